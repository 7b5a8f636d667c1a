/* importer imports fsync and ptrace from glibc but calls them only when
 * asked (argv[1] "sync" or "trace"; "wait" sleeps a second), and fdatasync through libswlib when
 * linked with it: static hints must find all three without a run that
 * makes them. */
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

#ifdef WITH_LIB
void swlib_sync(int fd);
#endif

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "wait") == 0)
		sleep(1); /* long enough for a poll to find it */
	if (argc > 1 && strcmp(argv[1], "sync") == 0)
		fsync(1);
	if (argc > 1 && strcmp(argv[1], "trace") == 0)
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
#ifdef WITH_LIB
	if (argc > 1 && strcmp(argv[1], "lib") == 0)
		swlib_sync(1);
#endif
	printf("importer\n");
	return 0;
}
