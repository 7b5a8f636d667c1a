/* importer imports fsync, posix_spawn and ptrace from glibc but calls them
 * only when asked (argv[1..] "sync", "spawn", "trace"; "wait" sleeps a
 * second), and fdatasync through libswlib when linked with it
 * (-DWITH_LIB, "lib"): static hints must find them without a run that
 * makes them. A failed call exits with status 3. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifdef WITH_LIB
void swlib_sync(int fd);
#endif

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "wait") == 0)
			sleep(1); /* long enough for a poll to find it */
		if (strcmp(argv[i], "sync") == 0) {
			int fd = open("/proc/self/exe", O_RDONLY);
			if (fd < 0 || fsync(fd) != 0) {
				perror("fsync");
				return 3;
			}
			close(fd);
		}
		if (strcmp(argv[i], "spawn") == 0) {
			char *av[] = {"/bin/true", NULL};
			pid_t pid;
			int st, err = posix_spawn(&pid, "/bin/true", NULL, NULL, av, environ);
			if (err != 0 || waitpid(pid, &st, 0) != pid || st != 0) {
				fprintf(stderr, "posix_spawn: %s\n", strerror(err));
				return 3;
			}
		}
		if (strcmp(argv[i], "trace") == 0)
			ptrace(PTRACE_TRACEME, 0, NULL, NULL);
#ifdef WITH_LIB
		if (strcmp(argv[i], "lib") == 0)
			swlib_sync(1);
#endif
	}
	printf("importer\n");
	return 0;
}
