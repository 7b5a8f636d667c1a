/* frontend is a thin program over libfrontlib: it takes more functions
 * from it than from glibc. */
int fl_open(int fd);
int fl_a(int), fl_b(int), fl_c(int), fl_d(int), fl_e(int), fl_f(int), fl_g(int);

int main(int argc, char **argv) {
	(void)argv;
	return fl_open(argc) + fl_a(argc) + fl_b(argc) + fl_c(argc) + fl_d(argc) + fl_e(argc) + fl_f(argc) + fl_g(argc);
}
