package output

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/internal/inputfile"
)

// Duration is a time.Duration written as "10s", "250ms" in configuration.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes "10s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML reads a duration from YAML, reporting its position on error.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	var text string
	if sn, ok := node.(*ast.StringNode); ok {
		text = sn.Value
	} else {
		text = node.String()
	}
	if err := d.UnmarshalText([]byte(text)); err != nil {
		ce := &ConfigError{Msg: err.Error()}
		if tok := node.GetToken(); tok != nil && tok.Position != nil {
			ce.Line, ce.Column = tok.Position.Line, tok.Position.Column
		}
		return ce
	}
	return nil
}

// UnmarshalText reads a Go duration ("10s", "1m30s"); a bare number is seconds.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		var secs float64
		if _, serr := fmt.Sscanf(string(b), "%g", &secs); serr == nil && fmt.Sprint(secs) == string(b) {
			v = time.Duration(secs * float64(time.Second))
		} else {
			return fmt.Errorf("duration %q: want e.g. 10s, 250ms, 1m", b)
		}
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", b)
	}
	*d = Duration(v)
	return nil
}

// Config is the outputs file (deploy/ ships one in the sysward-config
// ConfigMap as outputs.yaml). A section that is present is enabled unless it
// says enabled: false.
//
//	queue_size: 4096
//	flush_timeout: 5s
//	dedup: {window: 10s, key_fields: [sysward.workload, evt.type]}
//	stdout: {format: json}
//	file: {path: /var/log/sysward/alerts.jsonl, format: json}
//	http: {url: "http://falcosidekick:2801/", headers: {Authorization: "Bearer …"}}
//	program: {command: "jq -c . >> /tmp/alerts", format: json}
type Config struct {
	QueueSize    int         `yaml:"queue_size"`
	Hostname     string      `yaml:"hostname"`
	FlushTimeout Duration    `yaml:"flush_timeout"`
	Dedup        DedupConfig `yaml:"dedup"`

	Stdout  *StdoutConfig   `yaml:"stdout"`
	File    *FileConfig     `yaml:"file"`
	HTTP    *HTTPSection    `yaml:"http"`
	Program *ProgramSection `yaml:"program"`
}

// StdoutConfig is the stdout section.
type StdoutConfig struct {
	Enabled *bool  `yaml:"enabled"`
	Format  string `yaml:"format"`
}

// FileConfig is the file section.
type FileConfig struct {
	Enabled *bool  `yaml:"enabled"`
	Path    string `yaml:"path"`
	Format  string `yaml:"format"`
}

// HTTPSection is the http section: HTTPConfig plus enabled.
type HTTPSection struct {
	Enabled    *bool `yaml:"enabled"`
	HTTPConfig `yaml:",inline"`
}

// ProgramSection is the program section: ProgramConfig plus enabled.
type ProgramSection struct {
	Enabled       *bool `yaml:"enabled"`
	ProgramConfig `yaml:",inline"`
}

func on(enabled *bool) bool { return enabled == nil || *enabled }

// ConfigError is a configuration mistake with its position.
type ConfigError struct {
	File   string
	Line   int // 0 if unknown
	Column int
	Field  string // YAML path, e.g. "http.url"
	Msg    string
}

func (e *ConfigError) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", pos, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", pos, e.Msg)
}

// Is makes errors.Is(err, ErrBadConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrBadConfig }

// MaxConfigSize is the largest outputs file LoadConfig reads: 1 MiB (a
// real one is a few hundred bytes).
const MaxConfigSize = 1 << 20

// LoadConfig reads (a regular file, at most MaxConfigSize) and parses an
// outputs file.
func LoadConfig(path string) (*Config, error) {
	b, err := inputfile.Read(path, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("reading outputs config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig parses an outputs file named name (for messages). Unknown keys,
// bad values and bad combinations are errors (*ConfigError, wrapping
// ErrBadConfig) naming the line, column and field.
func ParseConfig(name string, data []byte) (*Config, error) {
	var c Config
	if err := decodeYAML(data, &c); err != nil {
		ce := &ConfigError{File: name, Msg: err.Error()}
		var ye yaml.Error
		var own *ConfigError
		if errors.As(err, &own) {
			own.File = name
			return nil, own
		}
		if errors.As(err, &ye) {
			ce.Msg = ye.GetMessage()
			if tok := ye.GetToken(); tok != nil && tok.Position != nil {
				ce.Line, ce.Column = tok.Position.Line, tok.Position.Column
			}
		}
		return nil, ce
	}
	if err := c.validate(name, data); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeYAML decodes strictly. goccy/go-yaml v1.19.2 panics on some
// malformed documents (a tagged empty sequence: nil ArrayNodeIter in
// decodeSlice, found by FuzzParseConfig, seed kept in testdata/fuzz); a panic
// there is bad input, not a broken invariant of ours, so it becomes an error.
func decodeYAML(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML (the YAML decoder failed: %v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, yaml.DisallowUnknownField())
}

// validate checks values the decoder cannot, pointing at the field's line.
func (c *Config) validate(name string, data []byte) error {
	bad := func(path, format string, args ...any) error {
		ce := &ConfigError{File: name, Field: path, Msg: fmt.Sprintf(format, args...)}
		ce.Line, ce.Column = position(data, path)
		return ce
	}
	if c.QueueSize < 0 {
		return bad("queue_size", "must not be negative")
	}
	if c.Stdout != nil {
		if _, err := ParseFormat(c.Stdout.Format); err != nil {
			return bad("stdout.format", "%q: want text or json", c.Stdout.Format)
		}
	}
	if c.File != nil && on(c.File.Enabled) {
		if c.File.Path == "" {
			return bad("file", "path is required")
		}
		if _, err := ParseFormat(c.File.Format); err != nil {
			return bad("file.format", "%q: want text or json", c.File.Format)
		}
	}
	if c.HTTP != nil && on(c.HTTP.Enabled) {
		if c.HTTP.URL == "" {
			return bad("http", "url is required")
		}
		if _, _, _, err := c.HTTP.HTTPConfig.prepare(); err != nil {
			return bad("http", "%s", strings.TrimPrefix(err.Error(), ErrBadConfig.Error()+": "))
		}
		if c.HTTP.MaxRetries > 100 {
			return bad("http.max_retries", "%d is more than 100", c.HTTP.MaxRetries)
		}
	}
	if c.Program != nil && on(c.Program.Enabled) {
		if len(c.Program.Argv) == 0 && c.Program.Command == "" {
			return bad("program", "argv or command is required")
		}
		if len(c.Program.Argv) > 0 && c.Program.Command != "" {
			return bad("program", "argv and command are exclusive")
		}
		if _, err := ParseFormat(c.Program.Format); err != nil {
			return bad("program.format", "%q: want text or json", c.Program.Format)
		}
	}
	for i, k := range c.Dedup.KeyFields {
		if k == "" {
			return bad(fmt.Sprintf("dedup.key_fields[%d]", i), "empty field name")
		}
	}
	return nil
}

// position finds the line and column of a dotted YAML path in data, or 0, 0.
func position(data []byte, dotted string) (line, col int) {
	defer func() {
		if recover() != nil {
			line, col = 0, 0
		}
	}()
	p, err := yaml.PathString("$." + dotted)
	if err != nil {
		return 0, 0
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return 0, 0
	}
	node, err := p.FilterFile(file)
	if err != nil || node == nil {
		return 0, 0
	}
	tok := node.GetToken()
	if tok == nil || tok.Position == nil {
		return 0, 0
	}
	return tok.Position.Line, tok.Position.Column
}

// Build makes the outputs c enables and a Dispatcher over them. rec may be
// nil. If an output cannot be made, the ones already made are closed.
func Build(c *Config, rec metrics.Recorder, opts *Options) (*Dispatcher, error) {
	base := Options{}
	if opts != nil {
		base = *opts
	}
	if c.QueueSize > 0 {
		base.QueueSize = c.QueueSize
	}
	base.Recorder = rec
	named := func(n string) *Options { o := base; o.Name = n; return &o }
	var outs []Output
	fail := func(err error) (*Dispatcher, error) {
		NewDispatcher(DispatcherConfig{FlushTimeout: time.Second}, outs...).Close()
		return nil, err
	}
	if c.Stdout != nil && on(c.Stdout.Enabled) {
		f, err := ParseFormat(c.Stdout.Format)
		if err != nil {
			return fail(err)
		}
		outs = append(outs, NewStdout(f, named("stdout")))
	}
	if c.File != nil && on(c.File.Enabled) {
		f, err := ParseFormat(c.File.Format)
		if err != nil {
			return fail(err)
		}
		o, err := NewFile(c.File.Path, f, named("file"))
		if err != nil {
			return fail(err)
		}
		outs = append(outs, o)
	}
	if c.HTTP != nil && on(c.HTTP.Enabled) {
		o, err := NewHTTP(c.HTTP.HTTPConfig, named("http"))
		if err != nil {
			return fail(err)
		}
		outs = append(outs, o)
	}
	if c.Program != nil && on(c.Program.Enabled) {
		o, err := NewProgram(c.Program.ProgramConfig, named("program"))
		if err != nil {
			return fail(err)
		}
		outs = append(outs, o)
	}
	host := c.Hostname
	if host == "" {
		host = DefaultHostname()
	}
	return NewDispatcher(DispatcherConfig{Dedup: c.Dedup, Hostname: host, Recorder: rec,
		FlushTimeout: time.Duration(c.FlushTimeout)}, outs...), nil
}

// DefaultHostname is $SYSWARD_HOSTNAME (the DaemonSet sets it to the node
// name, as Falco's FALCO_HOSTNAME), else the host name.
func DefaultHostname() string {
	if h := os.Getenv("SYSWARD_HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}
