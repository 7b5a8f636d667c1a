/* The pod sandbox's pause process for the test node (no registry here, so
 * the sandbox image is built from this file with gcc -static). Like
 * kubernetes' build/pause: exits on INT/TERM, reaps children. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void down(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
	struct sigaction d = {.sa_handler = down};
	struct sigaction r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
	sigaction(SIGINT, &d, NULL);
	sigaction(SIGTERM, &d, NULL);
	sigaction(SIGCHLD, &r, NULL);
	for (;;)
		pause();
}
