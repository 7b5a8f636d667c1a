package output

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fullConfig = `queue_size: 128
hostname: node-7
flush_timeout: 3s
dedup:
  window: 30s
  key_fields: [sysward.workload, evt.type, container.id]
  max_keys: 500
stdout:
  format: json
file:
  path: /var/log/sysward/alerts.jsonl
  format: text
http:
  url: https://falcosidekick:2801/
  headers: {Authorization: Bearer x}
  insecure_skip_verify: true
  timeout: 2s
  max_retries: 3
  backoff_min: 50ms
  backoff_max: 1s
program:
  enabled: false
  command: jq -c .
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("outputs.yaml", []byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"queue_size", c.QueueSize == 128},
		{"hostname", c.Hostname == "node-7"},
		{"flush_timeout duration", time.Duration(c.FlushTimeout) == 3*time.Second},
		{"dedup window", time.Duration(c.Dedup.Window) == 30*time.Second},
		{"dedup key fields", strings.Join(c.Dedup.KeyFields, ",") == "sysward.workload,evt.type,container.id"},
		{"stdout enabled by presence", c.Stdout != nil && on(c.Stdout.Enabled) && c.Stdout.Format == "json"},
		{"file", c.File.Path == "/var/log/sysward/alerts.jsonl"},
		{"http inline fields", c.HTTP.URL == "https://falcosidekick:2801/" && c.HTTP.Headers["Authorization"] == "Bearer x" && c.HTTP.InsecureSkipVerify},
		{"http durations", time.Duration(c.HTTP.BackoffMin) == 50*time.Millisecond && time.Duration(c.HTTP.Timeout) == 2*time.Second},
		{"program disabled", c.Program != nil && !on(c.Program.Enabled)},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: parsed %+v", ch.name, c)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // substring of the message, including the position
	}{
		{"unknown key", "stdout:\n  formt: json\n", "outputs.yaml:2:3"},
		{"unknown top-level key", "queue_size: 1\nhttps: {}\n", "outputs.yaml:2:1"},
		{"bad format", "queue_size: 1\nstdout:\n  format: xml\n", "outputs.yaml:3:11: stdout.format"},
		{"bad duration", "dedup:\n  window: soon\n", "outputs.yaml:2:11: duration \"soon\""},
		{"negative duration", "flush_timeout: -1s\n", "negative"},
		{"file without path", "file:\n  format: json\n", "outputs.yaml:2:9: file: path is required"},
		{"http without url", "http:\n  timeout: 1s\n", "http: url is required"},
		{"http bad scheme", "http:\n  url: ftp://x/\n", "outputs.yaml:2:6: http: http url"},
		{"program argv and command", "program:\n  argv: [cat]\n  command: cat\n", "exclusive"},
		{"empty key field", "dedup:\n  key_fields: [a, \"\"]\n", "dedup.key_fields[1]"},
		{"negative queue", "queue_size: -1\n", "outputs.yaml:1:13: queue_size"},
		{"wrong type", "queue_size: lots\n", "outputs.yaml:1:"},
		{"syntax", "stdout: [\n", "outputs.yaml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig("outputs.yaml", []byte(c.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrBadConfig) {
				t.Errorf("%v is not ErrBadConfig", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestBuildFromConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	cfgText := "hostname: h1\nfile:\n  path: " + path + "\n  format: json\nprogram:\n  argv: [/bin/sh, -c, 'cat > /dev/null']\n"
	c, err := ParseConfig("outputs.yaml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range d.Outputs() {
		names = append(names, o.Name())
	}
	if strings.Join(names, ",") != "file,program" {
		t.Errorf("outputs %v", names)
	}
	a := alert(0)
	a.Hostname = ""
	d.Send(a)
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"hostname":"h1"`) {
		t.Errorf("file: %s", b)
	}
	// A failing output closes the ones already made.
	bad := &Config{File: &FileConfig{Path: filepath.Join(dir, "missing/x")}}
	if _, err := Build(bad, nil, nil); err == nil {
		t.Error("Build with an unopenable file succeeded")
	}
}

// FuzzParseConfig: no panic, and every error is a *ConfigError naming the file.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("stdout: {format: json}\n"))
	f.Add([]byte("http:\n  url: http://x/\n  timeout: 1s\n"))
	f.Add([]byte("dedup: {window: 1m, key_fields: []}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("{{{"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("f.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != "f.yaml" || !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without position: %T %v", err, err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without error")
		}
	})
}
