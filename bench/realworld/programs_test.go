//go:build realworld

package realworld

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func programs() []program {
	return []program{redis(), nginx(), lighttpd(), memcached(), postgres(), sqlite()}
}

// ---- helpers

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs a client command; an exit status other than 0, or output
// containing one of bad, is an error.
func run(ctx context.Context, bad []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	s := out.String()
	if err != nil {
		return s, fmt.Errorf("%s: %v: %s", name, err, lastLines(s, 3))
	}
	for _, b := range bad {
		if strings.Contains(s, b) {
			return s, fmt.Errorf("%s: %s", name, lastLines(s, 3))
		}
	}
	return s, nil
}

func cmdOp(name string, bad []string, argv ...string) op {
	return op{name: name, run: func(ctx context.Context) error {
		_, err := run(ctx, bad, argv[0], argv[1:]...)
		return err
	}}
}

// httpGet fetches url and checks the status and, if want != "", that the
// body contains it; wantLen >= 0 checks the body's length.
func httpOp(name, method, url string, hdr map[string]string, status int, want string, wantLen int) op {
	return op{name: name, run: func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return err
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("reading body after %d bytes: %w", len(body), err)
		}
		if resp.StatusCode != status {
			return fmt.Errorf("status %d, want %d", resp.StatusCode, status)
		}
		if want != "" && !bytes.Contains(body, []byte(want)) {
			return fmt.Errorf("body lacks %q (%d bytes)", want, len(body))
		}
		if wantLen >= 0 && len(body) != wantLen {
			return fmt.Errorf("body %d bytes, want %d", len(body), wantLen)
		}
		return nil
	}}
}

// parallel runs n copies of o at once.
func parallel(name string, n int, o op) op {
	return op{name: name, run: func(ctx context.Context) error {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- o.run(ctx) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}}
}

func repeat(name string, n int, o op) op {
	return op{name: name, run: func(ctx context.Context) error {
		for range n {
			if err := o.run(ctx); err != nil {
				return err
			}
		}
		return nil
	}}
}

func tcpUp(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func httpUp(port int) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// webRoot makes the static files both web servers serve.
func webRoot(t *testing.T, dir string) string {
	root := filepath.Join(dir, "www")
	write(t, filepath.Join(root, "index.html"), "<html><body>sysward realworld</body></html>\n")
	write(t, filepath.Join(root, "a.txt"), strings.Repeat("small text file\n", 20))
	write(t, filepath.Join(root, "style.css"), "body { color: #333 }\n")
	write(t, filepath.Join(root, "text.txt"), strings.Repeat("compressible text for gzip; ", 4000))
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		write(t, filepath.Join(root, "list", fmt.Sprintf("file-%02d.txt", i)), "x\n")
	}
	_ = sha256.Sum256(big)
	return root
}

// staticLearn is the small load the web servers are learned under.
func staticLearn(port int) []op {
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return []op{
		repeat("get small files", 30, httpOp("get", "GET", base+"/index.html", nil, 200, "sysward", -1)),
		repeat("get text", 30, httpOp("get", "GET", base+"/a.txt", nil, 200, "small", -1)),
	}
}

// staticBroad is the broader load: listings, a 20 MB file, ranges,
// compression, errors, concurrency, HEAD, a reload.
func staticBroad(dir string, port int) []op {
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return []op{
		httpOp("small file", "GET", base+"/index.html", nil, 200, "sysward", -1),
		httpOp("css", "GET", base+"/style.css", nil, 200, "color", -1),
		httpOp("directory listing", "GET", base+"/list/", nil, 200, "file-29.txt", -1),
		httpOp("20 MB file", "GET", base+"/big.bin", nil, 200, "", 20<<20),
		httpOp("range request", "GET", base+"/big.bin", map[string]string{"Range": "bytes=1000-1999"}, 206, "", 1000),
		httpOp("HEAD", "HEAD", base+"/big.bin", nil, 200, "", 0),
		httpOp("gzip", "GET", base+"/text.txt", map[string]string{"Accept-Encoding": "gzip"}, 200, "", -1),
		httpOp("404", "GET", base+"/missing.html", nil, 404, "", -1),
		op{name: "conditional GET", run: func(ctx context.Context) error {
			// The file's own time: nginx answers 304 only to an exact
			// match (if_modified_since exact).
			st, err := os.Stat(filepath.Join(dir, "www", "a.txt"))
			if err != nil {
				return err
			}
			ims := st.ModTime().UTC().Format(http.TimeFormat)
			return httpOp("", "GET", base+"/a.txt", map[string]string{"If-Modified-Since": ims}, 304, "", 0).run(ctx)
		}},
		parallel("50 concurrent clients", 50, repeat("", 5, httpOp("", "GET", base+"/a.txt", nil, 200, "small", -1))),
		parallel("4 concurrent 20 MB", 4, httpOp("", "GET", base+"/big.bin", nil, 200, "", 20<<20)),
	}
}

// ---- redis

func redis() program {
	cli := func(port int, args ...string) []string {
		return append([]string{"redis-cli", "-p", strconv.Itoa(port)}, args...)
	}
	bad := []string{"ERR", "Error", "closed the connection", "Could not connect"}
	return program{
		name: "redis",
		prepare: func(t *testing.T, dir string, port int) []string {
			conf := filepath.Join(dir, "redis.conf")
			write(t, conf, fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\ndaemonize no\nsave \"\"\nappendonly no\nlogfile \"\"\nprotected-mode yes\n", port, dir))
			return []string{"redis-server", conf}
		},
		ready: func(port int) bool {
			out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "ping").Output()
			return err == nil && strings.TrimSpace(string(out)) == "PONG"
		},
		learn: func(dir string, port int) []op {
			return []op{cmdOp("redis-benchmark set,get,incr,lpush,lpop,sadd,hset,zadd", bad,
				"redis-benchmark", "-p", strconv.Itoa(port), "-t", "set,get,incr,lpush,lpop,sadd,hset,zadd", "-n", "2000", "-c", "5", "-q")}
		},
		broad: func(dir string, port int) []op {
			p := strconv.Itoa(port)
			big := strings.Repeat("v", 1<<20)
			return []op{
				cmdOp("SADD", bad, cli(port, "SADD", "s", "a", "b", "c", "d")...),
				cmdOp("SMEMBERS", bad, cli(port, "SMEMBERS", "s")...),
				cmdOp("RPUSH 1000", bad, append(cli(port, "RPUSH", "l"), strings.Fields(strings.Repeat("item ", 1000))...)...),
				cmdOp("LRANGE 0 -1 (large reply)", bad, cli(port, "LRANGE", "l", "0", "-1")...),
				cmdOp("MSET/MGET", bad, cli(port, "MSET", "k1", "v1", "k2", "v2", "k3", "v3")...),
				op{name: "SET 1 MB value", run: func(ctx context.Context) error {
					// -x: the value from stdin (1 MB is more than one
					// argument may be).
					cmd := exec.CommandContext(ctx, "redis-cli", "-p", p, "-x", "SET", "big")
					cmd.Stdin = strings.NewReader(big)
					out, err := cmd.CombinedOutput()
					if err != nil || strings.TrimSpace(string(out)) != "OK" {
						return fmt.Errorf("redis-cli -x SET: %v: %q", err, lastLines(string(out), 3))
					}
					return nil
				}},
				op{name: "GET 1 MB value", run: func(ctx context.Context) error {
					out, err := run(ctx, bad, "redis-cli", "-p", p, "GET", "big")
					// -x sends stdin as it is: no newline added.
					if err == nil && strings.TrimSuffix(out, "\n") != big {
						return fmt.Errorf("GET big: %d bytes, want %d", len(out), len(big))
					}
					return err
				}},
				cmdOp("KEYS *", bad, cli(port, "KEYS", "*")...),
				cmdOp("SCAN", bad, cli(port, "SCAN", "0", "COUNT", "100")...),
				op{name: "EXPIRE/TTL", run: func(ctx context.Context) error {
					if _, err := run(ctx, bad, "redis-cli", "-p", p, "EXPIRE", "k1", "100"); err != nil {
						return err
					}
					out, err := run(ctx, bad, "redis-cli", "-p", p, "TTL", "k1")
					if n, _ := strconv.Atoi(strings.TrimSpace(out)); err == nil && (n <= 0 || n > 100) {
						return fmt.Errorf("TTL %q, want 1..100", strings.TrimSpace(out))
					}
					return err
				}},
				op{name: "INFO", run: func(ctx context.Context) error {
					// Not bad: INFO all has an "# Errorstats" section.
					out, err := run(ctx, nil, "redis-cli", "-p", p, "INFO", "all")
					if err == nil && !strings.Contains(out, "redis_version:") {
						return fmt.Errorf("INFO: %q", lastLines(out, 3))
					}
					return err
				}},
				cmdOp("CONFIG GET *", bad, cli(port, "CONFIG", "GET", "*")...),
				cmdOp("CLIENT LIST", bad, cli(port, "CLIENT", "LIST")...),
				cmdOp("SAVE", bad, cli(port, "SAVE")...),
				op{name: "BGSAVE", run: func(ctx context.Context) error {
					if _, err := run(ctx, bad, "redis-cli", "-p", p, "BGSAVE"); err != nil {
						return err
					}
					return waitInfo(ctx, p, "rdb_bgsave_in_progress:0", "rdb_last_bgsave_status:ok")
				}},
				op{name: "BGREWRITEAOF", run: func(ctx context.Context) error {
					// The reply only says it started: wait for the child
					// to finish and check it succeeded.
					if _, err := run(ctx, bad, "redis-cli", "-p", p, "BGREWRITEAOF"); err != nil {
						return err
					}
					return waitInfo(ctx, p, "aof_rewrite_in_progress:0", "aof_last_bgrewrite_status:ok")
				}},
				cmdOp("redis-benchmark pipelined lrange,mset", bad, "redis-benchmark", "-p", p, "-t", "lrange_100,mset,rpush,hset", "-n", "3000", "-P", "16", "-c", "20", "-q"),
				cmdOp("FLUSHALL ASYNC", bad, cli(port, "FLUSHALL", "ASYNC")...),
				cmdOp("DBSIZE", bad, cli(port, "DBSIZE")...),
			}
		},
	}
}

// waitInfo polls redis INFO persistence until it shows done, then checks
// it shows ok (a background save or rewrite finished and succeeded).
func waitInfo(ctx context.Context, port, done, ok string) error {
	for {
		out, err := run(ctx, nil, "redis-cli", "-p", port, "INFO", "persistence")
		if err != nil {
			return err
		}
		if strings.Contains(out, done) {
			if !strings.Contains(out, ok) {
				return fmt.Errorf("want %s: %s", ok, lastLines(out, 20))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ---- nginx

func nginx() program {
	return program{
		name: "nginx",
		prepare: func(t *testing.T, dir string, port int) []string {
			root := webRoot(t, dir)
			for _, d := range []string{"logs", "tmp"} {
				_ = os.MkdirAll(filepath.Join(dir, d), 0o777)
			}
			conf := filepath.Join(dir, "nginx.conf")
			write(t, conf, fmt.Sprintf(`daemon off;
master_process on;
worker_processes 2;
user www-data;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log info;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log %[1]s/logs/access.log;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  sendfile on;
  gzip on;
  gzip_types text/plain;
  server {
    listen 127.0.0.1:%[2]d;
    root %[3]s;
    location /list/ { autoindex on; }
  }
}
`, dir, port, root))
			return []string{"nginx", "-c", conf, "-p", dir}
		},
		ready: httpUp,
		learn: func(dir string, port int) []op { return staticLearn(port) },
		broad: func(dir string, port int) []op {
			return append(staticBroad(dir, port), op{name: "reload (SIGHUP)", run: func(ctx context.Context) error {
				b, err := os.ReadFile(filepath.Join(dir, "nginx.pid"))
				if err != nil {
					return err
				}
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
					return err
				}
				time.Sleep(time.Second)
				return httpOp("", "GET", fmt.Sprintf("http://127.0.0.1:%d/index.html", port), nil, 200, "sysward", -1).run(ctx)
			}})
		},
	}
}

// ---- lighttpd

func lighttpd() program {
	return program{
		name: "lighttpd",
		prepare: func(t *testing.T, dir string, port int) []string {
			root := webRoot(t, dir)
			conf := filepath.Join(dir, "lighttpd.conf")
			write(t, conf, fmt.Sprintf(`server.modules = ("mod_dirlisting", "mod_deflate")
server.document-root = "%[1]s"
server.port = %[2]d
server.bind = "127.0.0.1"
server.errorlog = "%[3]s/error.log"
server.username = "www-data"
server.groupname = "www-data"
index-file.names = ("index.html")
mimetype.assign = (".html" => "text/html", ".txt" => "text/plain", ".css" => "text/css", ".bin" => "application/octet-stream")
$HTTP["url"] =^ "/list/" { dir-listing.activate = "enable" }
deflate.mimetypes = ("text/plain")
deflate.allowed-encodings = ("gzip")
`, root, port, dir))
			_ = os.Chmod(dir, 0o777)
			return []string{"lighttpd", "-D", "-f", conf}
		},
		ready: httpUp,
		learn: func(dir string, port int) []op { return staticLearn(port) },
		broad: func(dir string, port int) []op { return staticBroad(dir, port) },
	}
}

// ---- memcached

// mc sends one memcached text-protocol exchange and checks the reply ends
// with end.
func mc(port int, send, end string) op {
	return op{name: strings.Fields(send)[0], run: func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return err
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		if _, err := io.WriteString(c, send); err != nil {
			return err
		}
		r := bufio.NewReaderSize(c, 1<<20)
		var got strings.Builder
		for {
			l, err := r.ReadString('\n')
			got.WriteString(l)
			if strings.HasSuffix(got.String(), end) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reply %q: %w", lastLines(got.String(), 2), err)
			}
			if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "SERVER_ERROR") || strings.HasPrefix(l, "CLIENT_ERROR") {
				return fmt.Errorf("reply %q", l)
			}
		}
	}}
}

func named(name string, o op) op { o.name = name; return o }

func memcached() program {
	return program{
		name: "memcached",
		exe:  "memcached",
		prepare: func(t *testing.T, dir string, port int) []string {
			return []string{"memcached", "-u", "memcache", "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "-t", "2"}
		},
		ready: tcpUp,
		learn: func(dir string, port int) []op {
			var ops []op
			for i := range 20 {
				ops = append(ops, mc(port, fmt.Sprintf("set k%d 0 0 5\r\nhello\r\n", i), "STORED\r\n"),
					mc(port, fmt.Sprintf("get k%d\r\n", i), "END\r\n"))
			}
			return ops
		},
		broad: func(dir string, port int) []op {
			big := strings.Repeat("x", 500<<10)
			var multi strings.Builder
			multi.WriteString("get")
			for i := range 100 {
				multi.WriteString(fmt.Sprintf(" k%d", i))
			}
			multi.WriteString("\r\n")
			var setMany strings.Builder
			for i := range 100 {
				setMany.WriteString(fmt.Sprintf("set k%d 0 0 5\r\nhello\r\n", i))
			}
			return []op{
				named("set 100 keys", mc(port, setMany.String(), strings.Repeat("STORED\r\n", 100))),
				named("multi-get 100", mc(port, multi.String(), "END\r\n")),
				named("set 500 KB item", mc(port, fmt.Sprintf("set big 0 0 %d\r\n%s\r\n", len(big), big), "STORED\r\n")),
				named("get 500 KB item", mc(port, "get big\r\n", "END\r\n")),
				named("incr/decr", mc(port, "set n 0 0 1\r\n5\r\nincr n 10\r\ndecr n 3\r\n", "12\r\n")),
				named("gets (cas unique)", mc(port, "gets n\r\n", "END\r\n")),
				named("touch", mc(port, "touch n 100\r\n", "TOUCHED\r\n")),
				named("stats", mc(port, "stats\r\n", "END\r\n")),
				named("stats slabs", mc(port, "stats slabs\r\n", "END\r\n")),
				named("stats items", mc(port, "stats items\r\n", "END\r\n")),
				named("lru_crawler metadump all", mc(port, "lru_crawler metadump all\r\n", "END\r\n")),
				named("lru_crawler crawl all", mc(port, "lru_crawler crawl all\r\n", "OK\r\n")),
				parallel("50 concurrent clients", 50, mc(port, "set c 0 0 2\r\nhi\r\nget c\r\n", "END\r\n")),
				named("flush_all", mc(port, "flush_all\r\n", "OK\r\n")),
			}
		},
	}
}

// ---- postgres

const pgBin = "/usr/lib/postgresql/15/bin"

func postgres() program {
	psql := func(port int, sql string) []string {
		return []string{"psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "-c", sql}
	}
	bad := []string{"ERROR", "FATAL", "PANIC", "server closed the connection"}
	return program{
		name:       "postgres",
		exe:        "postgres",
		stopSignal: syscall.SIGINT, // fast shutdown: SIGTERM waits for clients
		prepare: func(t *testing.T, dir string, port int) []string {
			data := filepath.Join(dir, "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(dir, 0o755)
			if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v %s", err, out)
			}
			initdb := exec.Command("setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
				pgBin+"/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
			if out, err := initdb.CombinedOutput(); err != nil {
				t.Fatalf("initdb: %v\n%s", err, out)
			}
			return []string{"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
				pgBin + "/postgres", "-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
				"-c", "max_wal_size=64MB", "-c", "min_wal_size=32MB"}
		},
		ready: func(port int) bool {
			return exec.Command("pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres").Run() == nil
		},
		learn: func(dir string, port int) []op {
			return []op{
				cmdOp("create table", bad, psql(port, "CREATE TABLE kv (k int primary key, v text)")...),
				cmdOp("insert 100", bad, psql(port, "INSERT INTO kv SELECT g, md5(g::text) FROM generate_series(1,100) g")...),
				repeat("selects", 20, cmdOp("select", bad, psql(port, "SELECT v FROM kv WHERE k = 42")...)),
			}
		},
		broad: func(dir string, port int) []op {
			p := strconv.Itoa(port)
			return []op{
				cmdOp("create table", bad, psql(port, "CREATE TABLE big (id int, payload text)")...),
				cmdOp("bulk load 500k rows (new WAL segments)", bad, psql(port, "INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1,500000) g")...),
				cmdOp("create index", bad, psql(port, "CREATE INDEX big_id ON big (id)")...),
				cmdOp("big sort to temp files", bad, psql(port, "SET work_mem='64kB'; SELECT count(*) FROM (SELECT payload FROM big ORDER BY payload) s")...),
				cmdOp("parallel seq scan", bad, psql(port, "SET max_parallel_workers_per_gather=2; SET parallel_setup_cost=0; SET parallel_tuple_cost=0; SELECT count(*) FROM big WHERE payload LIKE '%ab%'")...),
				cmdOp("analyze", bad, psql(port, "ANALYZE big")...),
				cmdOp("update 50k rows", bad, psql(port, "UPDATE big SET payload = 'x' WHERE id % 10 = 0")...),
				cmdOp("vacuum", bad, psql(port, "VACUUM big")...),
				cmdOp("vacuum full", bad, psql(port, "VACUUM FULL big")...),
				cmdOp("checkpoint", bad, psql(port, "CHECKPOINT")...),
				cmdOp("copy out", bad, psql(port, "COPY (SELECT * FROM big LIMIT 1000) TO STDOUT")...),
				cmdOp("pgbench init", bad, "pgbench", "-i", "-s", "2", "-h", "127.0.0.1", "-p", p, "-U", "postgres", "postgres"),
				cmdOp("pgbench 4 clients 5 s", bad, "pgbench", "-c", "4", "-j", "2", "-T", "5", "-h", "127.0.0.1", "-p", p, "-U", "postgres", "postgres"),
				cmdOp("create database", bad, psql(port, "CREATE DATABASE other")...),
				cmdOp("pg_dump", bad, "pg_dump", "-h", "127.0.0.1", "-p", p, "-U", "postgres", "-t", "pgbench_branches", "postgres"),
			}
		},
	}
}

// ---- sqlite3 (a tool, not a server)

func sqlite() program {
	sq := func(name, sql, want string) op {
		return op{name: name, sh: "sqlite3 db.sqlite " + shellQuote(sql), want: want}
	}
	return program{
		name: "sqlite3",
		tool: true,
		prepare: func(t *testing.T, dir string, port int) []string {
			_ = os.Remove(filepath.Join(dir, "db.sqlite"))
			// .import makes the table from the header line, then 3 rows.
			write(t, filepath.Join(dir, "data.csv"), "n,name\n1,one\n2,two\n3,three\n")
			return nil
		},
		ready: func(int) bool { return true },
		learn: func(dir string, port int) []op {
			return []op{
				sq("create", "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT);", ""),
				sq("insert", "INSERT INTO t(b) VALUES ('x'),('y'),('z');", ""),
				sq("select", "SELECT count(*) FROM t;", ""),
			}
		},
		broad: func(dir string, port int) []op {
			return []op{
				sq("create", "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT); SELECT 'ok';", "ok"),
				sq("insert 100k (recursive CTE)", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<100000) INSERT INTO t(b) SELECT hex(randomblob(32)) FROM c; SELECT count(*) >= 100000 FROM t;", "1"),
				sq("create index", "CREATE INDEX IF NOT EXISTS tb ON t(b); SELECT 'ok';", "ok"),
				sq("WAL mode", "PRAGMA journal_mode=WAL; INSERT INTO t(b) VALUES ('wal'); SELECT count(*) > 0 FROM t WHERE b='wal';", "1"),
				sq("delete + VACUUM", "PRAGMA journal_mode=DELETE; DELETE FROM t WHERE a % 2 = 0; VACUUM; SELECT 'ok';", "ok"),
				sq("integrity_check", "PRAGMA integrity_check;", "ok"),
				sq("attach", "ATTACH 'other.sqlite' AS o; CREATE TABLE IF NOT EXISTS o.u(x); INSERT INTO o.u VALUES (1); SELECT count(*) FROM o.u;", "1"),
				{name: ".backup", sh: "sqlite3 db.sqlite '.backup backup.sqlite' && sqlite3 backup.sqlite 'SELECT count(*) > 0 FROM t;'", want: "1"},
				{name: ".dump", sh: "sqlite3 db.sqlite '.dump t' | tail -1", want: "COMMIT"},
				{name: ".import csv", sh: "sqlite3 db.sqlite '.import --csv data.csv imp' && sqlite3 db.sqlite 'SELECT count(*) FROM imp;'", want: "3"},
				{name: ".system", sh: "sqlite3 db.sqlite '.system echo from-shell'", want: "from-shell"},
				sq("big sort (temp store)", "PRAGMA temp_store=FILE; PRAGMA cache_size=-200; SELECT count(*) FROM (SELECT b FROM t ORDER BY random());", ""),
			}
		},
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
