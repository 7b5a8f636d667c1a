package elfhints

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestLibcTableCoversServers: every glibc function that real servers
// import (testdata/server-imports.txt, from Debian 12's packages; and the
// binaries themselves when installed here) either has a row or is known to
// make no syscall (noSyscall), so that no import is silently ignored.
// Regenerate the file with:
//
//	readelf --dyn-syms -W BINARY | awk '$7=="UND"{print $8}' | grep @GLIBC_ | sed 's/@.*//' | sort -u
func TestLibcTableCoversServers(t *testing.T) {
	f, err := os.Open("testdata/server-imports.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lists := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		bin, names, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		lists[bin] = strings.Fields(names)
	}
	if len(lists) < 8 {
		t.Fatalf("%d binaries in server-imports.txt", len(lists))
	}
	// The installed ones too, read by Read (checks the reader against
	// readelf on the same file).
	for bin := range lists {
		b, err := Read(bin, nil)
		if err != nil {
			continue // not installed here
		}
		var got []string
		for _, im := range b.Imports {
			if strings.HasPrefix(im.Version, "GLIBC_") {
				got = append(got, im.Name)
			}
		}
		slices.Sort(got)
		got = slices.Compact(got)
		if !slices.Equal(got, lists[bin]) {
			t.Errorf("%s: Read's glibc imports differ from readelf's (package updated? regenerate the file):\n got %v\nwant %v", bin, got, lists[bin])
		}
	}
	for bin, names := range lists {
		for _, n := range names {
			_, hasRow := LibcFunction(n)
			_, listed := libcTable[n]
			if !hasRow && !listed && !noSyscall[n] {
				t.Errorf("%s imports %s: no row and not known to make no syscall", bin, n)
			}
			if hasRow && noSyscall[n] {
				t.Errorf("%s has a row and is listed as making no syscall", n)
			}
		}
	}
}

// noSyscall are glibc functions that never enter the kernel themselves
// (string, math, ctype, locale-object and pthread-attribute functions;
// ones that only allocate, whose memory calls are malloc's row).
var noSyscall = map[string]bool{
	"__ctype_b_loc": true, "__ctype_tolower_loc": true, "__ctype_toupper_loc": true,
	"__cxa_atexit": true, "__cxa_finalize": true, "__environ": true, "__errno_location": true,
	"__isoc99_sscanf": true, "__libc_start_main": true, "_setjmp": true, "abs": true, "acos": true,
	"acosh": true, "asin": true, "asinh": true, "atan": true, "atan2": true, "atanh": true,
	"atof": true, "atoi": true, "atol": true, "backtrace_symbols": true, "cbrt": true, "ceil": true,
	"ceill": true, "clearenv": true, "clearerr": true, "cos": true, "cosh": true, "dirname": true,
	"dladdr": true, "dlerror": true, "environ": true, "exp": true, "feof": true, "ferror": true,
	"fileno": true, "floor": true, "fmod": true, "freeaddrinfo": true, "freeifaddrs": true,
	"frexp": true, "getenv": true, "getopt": true, "getopt_long": true, "getpagesize": true,
	"getsubopt": true, "globfree64": true, "gmtime_r": true, "gnu_get_libc_version": true,
	"inet_ntop": true, "inet_pton": true, "iswalnum": true, "iswalnum_l": true, "iswalpha": true,
	"iswalpha_l": true, "iswdigit": true, "iswdigit_l": true, "iswgraph": true, "iswgraph_l": true,
	"iswlower": true, "iswlower_l": true, "iswprint": true, "iswprint_l": true, "iswpunct": true,
	"iswpunct_l": true, "iswspace": true, "iswspace_l": true, "iswupper": true, "iswupper_l": true,
	"iswxdigit": true, "labs": true, "ldexp": true, "llrint": true, "llroundl": true,
	"localeconv": true, "log": true, "log10": true, "mbstowcs": true, "memchr": true, "memcmp": true,
	"memcpy": true, "memmove": true, "mempcpy": true, "memset": true, "modf": true,
	"nl_langinfo": true, "pow": true, "pthread_attr_destroy": true, "pthread_attr_getstacksize": true,
	"pthread_attr_init": true, "pthread_attr_setdetachstate": true, "pthread_attr_setstacksize": true,
	"pthread_cond_destroy": true, "pthread_cond_init": true, "pthread_getspecific": true,
	"pthread_key_create": true, "pthread_mutex_destroy": true, "pthread_mutex_init": true,
	"pthread_mutexattr_destroy": true, "pthread_mutexattr_init": true,
	"pthread_mutexattr_settype": true, "pthread_self": true, "pthread_setcancelstate": true,
	"pthread_setcanceltype": true, "pthread_setspecific": true, "qsort": true, "rand": true,
	"random": true, "round": true, "roundf": true, "sem_destroy": true, "sem_init": true,
	"sem_trywait": true, "setenv": true, "sigaddset": true, "sigdelset": true, "sigemptyset": true,
	"sigfillset": true, "sin": true, "sincos": true, "sinh": true, "snprintf": true, "sprintf": true,
	"sqrt": true, "sqrtf": true, "srand": true, "srandom": true, "sscanf": true, "stderr": true,
	"stdin": true, "stdout": true, "stpcpy": true, "strcasecmp": true, "strcat": true, "strchr": true,
	"strchrnul": true, "strcmp": true, "strcoll": true, "strcoll_l": true, "strcpy": true,
	"strcspn": true, "strdup": true, "strerrordesc_np": true, "strlen": true, "strncasecmp": true,
	"strncat": true, "strncmp": true, "strncpy": true, "strnlen": true, "strpbrk": true,
	"strrchr": true, "strsep": true, "strspn": true, "strstr": true, "strtod": true, "strtof": true,
	"strtok": true, "strtok_r": true, "strtol": true, "strtold": true, "strtoll": true,
	"strtoul": true, "strtoull": true, "strxfrm": true, "strxfrm_l": true, "tan": true, "tanh": true,
	"timegm": true, "towlower": true, "towlower_l": true, "towupper": true, "towupper_l": true,
	"trunc": true, "ungetc": true, "unsetenv": true, "uselocale": true, "vsnprintf": true,
	"vsprintf": true, "wcstombs": true,
}
