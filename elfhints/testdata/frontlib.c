/* frontlib is a library whose caller is a thin front end (the way the
 * sqlite3 shell is to libsqlite3): its work, and its only ftruncate, are
 * here. */
#include <unistd.h>

int fl_open(int fd) { return ftruncate(fd, 0); }
int fl_a(int x) { return x + 1; }
int fl_b(int x) { return x + 2; }
int fl_c(int x) { return x + 3; }
int fl_d(int x) { return x + 4; }
int fl_e(int x) { return x + 5; }
int fl_f(int x) { return x + 6; }
int fl_g(int x) { return x + 7; }
