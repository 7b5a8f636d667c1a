/* swlib is a shared library whose only glibc import is fdatasync. */
#include <unistd.h>

void swlib_sync(int fd) { fdatasync(fd); }
