package detector

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/sysward/sysward/internal/inputfile"
)

// EngineVersion is the Falco engine version whose rules language this
// package implements; files requiring a newer one are refused.
const EngineVersion = "0.57.0"

// Sentinel errors; every load error is an *Error wrapping one of them (or
// ErrSyntax, ErrUndefinedMacro, ErrBadCheck).
var (
	ErrInvalidYAML     = errors.New("invalid YAML")
	ErrInvalidRule     = errors.New("invalid rules file item")
	ErrEngineVersion   = errors.New("rules require a newer engine")
	ErrBadOption       = errors.New("invalid engine option")
	ErrNoSuchRule      = errors.New("no such rule")
	ErrUnknownPriority = errors.New("unknown priority")
	// ErrPluginUnavailable: required_plugin_versions names a plugin (and
	// no alternative) whose fields sysward does not provide.
	ErrPluginUnavailable = errors.New("required plugin not available")
)

// Position is a place in a rules file. Line and Col are 1-based.
type Position struct {
	File      string
	Line, Col int
}

func (p Position) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one load error, at a position, about an item ("rule X").
type Error struct {
	Pos  Position
	Item string
	Err  error
}

func (e *Error) Error() string {
	if e.Item != "" {
		return fmt.Sprintf("%s: %s: %v", e.Pos, e.Item, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Pos, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is what LoadRules returns when something is wrong: every error
// found, in file order. errors.Is and errors.As see through it.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap exposes each error to errors.Is/As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Warning is something Falco would warn about: a rule matching every event
// type, a skipped rule, an output field sysward does not know.
type Warning struct {
	Pos  Position
	Item string
	Msg  string
}

func (w Warning) String() string { return fmt.Sprintf("%s: %s: %s", w.Pos, w.Item, w.Msg) }

// PluginRequirement is one entry of required_plugin_versions.
type PluginRequirement struct {
	Name, Version string
	Pos           Position
	// Alternatives are other plugins that meet the requirement as well.
	Alternatives []PluginRequirement
}

// Exception is one entry of a rule's exceptions.
type Exception struct {
	Name   string
	Fields []string // one entry and SingleField set for the "fields: name" form
	Comps  []string
	Values [][]ExceptionValue
	// SingleField: fields was a scalar, values a flat list, comp a single
	// operator ("in" by default).
	SingleField bool
	Pos         Position

	rawValues *ynode // values appended before the fields are known
	hasComps  bool
}

// ExceptionValue is one value of an exception tuple: a string, or a list
// (for in, intersects, pmatch).
type ExceptionValue struct {
	Str  string
	List []string
	Pos  Position
}

// Rule is one rule after every file's appends and overrides.
type Rule struct {
	Name        string
	Desc        string
	Condition   string
	Output      string
	Priority    Priority
	Enabled     bool
	Tags        []string
	Source      string
	Exceptions  []Exception
	WarnEvttype bool // warn_evttypes (default true)
	SkipUnknown bool // skip-if-unknown-filter
	Pos         Position

	// Skipped is why the rule is not evaluated ("" if it compiled):
	// MissingField names the field sysward lacks, when that is the reason.
	Skipped      string
	MissingField string
	// EventTypes are the evt.type values the condition can match, sorted;
	// nil when it can match every type (or the rule did not compile).
	EventTypes []string
	// AllEventTypes is true when the condition does not restrict evt.type.
	AllEventTypes bool

	condPos  Position // where the condition's text starts
	condNode *ynode
	outNode  *ynode
	compiled *compiledRule
}

// Compiled reports whether the rule compiled and will be evaluated when
// enabled.
func (r *Rule) Compiled() bool { return r.compiled != nil }

// MacroInfo and ListInfo describe the loaded macros and lists.
type MacroInfo struct {
	Name, Condition string
	Pos             Position
}

// ListInfo is a loaded list, items expanded.
type ListInfo struct {
	Name  string
	Items []string
	Pos   Position
}

// Ruleset is the result of loading rules files: every rule (compiled or
// skipped, enabled or not) in load order, plus warnings. It is immutable once
// returned and may be shared by several engines.
type Ruleset struct {
	Rules                  []*Rule
	Macros                 []MacroInfo
	Lists                  []ListInfo
	Warnings               []Warning
	RequiredEngineVersion  string
	RequiredPluginVersions []PluginRequirement
}

// Rule returns the named rule, or nil.
func (rs *Ruleset) Rule(name string) *Rule {
	for _, r := range rs.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Stats counts compiled, skipped and disabled rules.
func (rs *Ruleset) Stats() (compiled, skipped, disabled int) {
	for _, r := range rs.Rules {
		switch {
		case r.Skipped != "":
			skipped++
		case !r.Enabled:
			disabled++
		default:
			compiled++
		}
	}
	return
}

// RulesFile is a rules file's name (for messages) and content.
type RulesFile struct {
	Name string
	Data []byte
}

// MaxRulesFileSize is the largest rules file LoadRules and ReadRulesFile
// read: 4 MiB, 64 times Falco's largest stable rules file
// (falco_rules.yaml, 64 KiB).
const MaxRulesFileSize = 4 << 20

// ReadRulesFile reads the rules file at path: a regular file of at most
// MaxRulesFileSize (a FIFO, a device or a larger file is refused, see
// internal/inputfile).
func ReadRulesFile(path string) (RulesFile, error) {
	b, err := inputfile.Read(path, MaxRulesFileSize)
	if err != nil {
		return RulesFile{}, fmt.Errorf("reading rules file: %w", err)
	}
	return RulesFile{Name: path, Data: b}, nil
}

// LoadOptions changes how rules files load; a nil *LoadOptions is Falco's
// behaviour.
type LoadOptions struct {
	// SkipUnknownFields loads files that use what sysward does not provide,
	// instead of refusing them as Falco does: a rule whose condition uses an
	// unknown field is skipped (Rule.Skipped, Rule.MissingField) with a
	// warning, an output field sysward lacks prints <NA> (warning), and an
	// unmet required_plugin_versions entry is a warning. Without it each of
	// these is a load error at its file:line:col, as in Falco (a rule can
	// still opt out alone with skip-if-unknown-filter: true).
	SkipUnknownFields bool
}

func (o *LoadOptions) skipUnknown() bool { return o != nil && o.SkipUnknownFields }

// LoadRules reads (ReadRulesFile) and loads rules files in order (later
// files append to and override earlier ones, as in Falco).
func LoadRules(paths ...string) (*Ruleset, error) { return LoadRulesWith(nil, paths...) }

// LoadRulesWith is LoadRules with options (nil: the defaults).
func LoadRulesWith(opts *LoadOptions, paths ...string) (*Ruleset, error) {
	files := make([]RulesFile, 0, len(paths))
	for _, p := range paths {
		f, err := ReadRulesFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return LoadRulesFilesWith(opts, files...)
}

// LoadRulesFiles loads rules from memory. On error it returns Errors (all
// problems found) and a nil Ruleset.
func LoadRulesFiles(files ...RulesFile) (*Ruleset, error) { return LoadRulesFilesWith(nil, files...) }

// LoadRulesFilesWith is LoadRulesFiles with options (nil: the defaults).
func LoadRulesFilesWith(opts *LoadOptions, files ...RulesFile) (*Ruleset, error) {
	l := &loader{macros: map[string]*macroItem{}, lists: map[string]*listItem{}, rules: map[string]*Rule{}, rs: &Ruleset{}, opts: opts,
		substBudget: maxSubstitutionBytes}
	for _, f := range files {
		l.file(f)
	}
	if len(l.errs) == 0 {
		l.compileAll()
	}
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	return l.rs, nil
}

type macroItem struct {
	name, cond        string
	pos               Position
	condNode          *ynode
	index, visibility int
}

type listItem struct {
	name              string
	items             []string
	pos               Position
	index, visibility int
}

type loader struct {
	rs         *Ruleset
	errs       Errors
	macros     map[string]*macroItem
	macroOrder []string
	lists      map[string]*listItem
	listOrder  []string
	rules      map[string]*Rule
	files      map[string][]byte
	lines      map[string][]int // lineStarts of each file, when needed
	index      int
	macroDefs  map[string]*macroDef
	opts       *LoadOptions
	// budgets (limits.go)
	substBudget int  // bytes list substitution may still write
	nodes       int  // expanded condition nodes compiled so far
	exhausted   bool // a budget of the whole load ran out: stop compiling
}

func (l *loader) errorf(pos Position, item string, sentinel error, format string, args ...any) {
	l.errs = append(l.errs, &Error{Pos: pos, Item: item, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))})
}

func (l *loader) warnf(pos Position, item, format string, args ...any) {
	l.rs.Warnings = append(l.rs.Warnings, Warning{Pos: pos, Item: item, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) file(f RulesFile) {
	if l.files == nil {
		l.files = map[string][]byte{}
	}
	l.files[f.Name] = f.Data
	docs, err := parseYAML(f.Name, f.Data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			l.errs = append(l.errs, e)
		}
		return
	}
	for _, d := range docs {
		if d.kind == yNull {
			continue
		}
		if d.kind != ySeq {
			l.errorf(d.pos, "", ErrInvalidRule, "a rules file is a YAML sequence of items, not a %s", d.kind)
			continue
		}
		for _, it := range d.seq {
			l.item(it)
		}
	}
}

func (l *loader) item(it *ynode) {
	if it.kind != yMap {
		l.errorf(it.pos, "", ErrInvalidRule, "each item must be a mapping with list, macro, rule, required_engine_version or required_plugin_versions")
		return
	}
	switch {
	case it.get("required_engine_version") != nil:
		l.engineVersion(it.get("required_engine_version"))
	case it.get("required_plugin_versions") != nil:
		l.pluginVersions(it.get("required_plugin_versions"))
	case it.get("list") != nil:
		l.list(it)
	case it.get("macro") != nil:
		l.macro(it)
	case it.get("rule") != nil:
		l.rule(it)
	default:
		l.warnf(it.pos, "", "unknown top level item (keys %s): ignored", strings.Join(it.keys, ", "))
	}
}

func (l *loader) engineVersion(n *ynode) {
	if n.kind != yScalar {
		l.errorf(n.pos, "required_engine_version", ErrInvalidRule, "must be a version string")
		return
	}
	l.rs.RequiredEngineVersion = n.str
	if !validEngineVersion(n.str) {
		l.errorf(n.pos, "required_engine_version", ErrInvalidRule, "unable to parse engine version %q (want N or X.Y.Z)", n.str)
		return
	}
	if cmpVersion(n.str, EngineVersion) > 0 {
		l.errorf(n.pos, "required_engine_version", ErrEngineVersion, "rules require engine version %s, sysward implements %s", n.str, EngineVersion)
	}
}

// validEngineVersion accepts Falco's two spellings: an integer (the old
// engine numbering) or a semantic version X.Y.Z.
func validEngineVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 1 && len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// cmpVersion compares dotted versions ("0.57.0"; a bare integer N is the old
// Falco engine numbering, below every 0.x.y).
func cmpVersion(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) == 1 && len(pb) > 1 {
		return -1
	}
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(strings.TrimPrefix(pa[i], "v"))
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// nativePlugins are Falco plugins whose fields sysward provides itself.
var nativePlugins = map[string]bool{"container": true, "k8smeta": true}

func (l *loader) pluginVersions(n *ynode) {
	if n.kind != ySeq {
		l.errorf(n.pos, "required_plugin_versions", ErrInvalidRule, "must be a sequence of {name, version}")
		return
	}
	entry := func(p *ynode, what string) (PluginRequirement, bool) {
		name, version := p.get("name"), p.get("version")
		if p.kind != yMap || name == nil || version == nil || name.kind != yScalar || version.kind != yScalar {
			l.errorf(p.pos, "required_plugin_versions", ErrInvalidRule, "each %s needs name and version", what)
			return PluginRequirement{}, false
		}
		return PluginRequirement{Name: name.str, Version: version.str, Pos: p.pos}, true
	}
	for _, p := range n.seq {
		req, ok := entry(p, "entry")
		if !ok {
			continue
		}
		// Falco (userspace/engine/rule_loader_reader.cpp): an entry may
		// list alternatives; it is met when any one of them is loaded.
		met := nativePlugins[req.Name]
		names := []string{req.Name}
		if alt := p.get("alternatives"); alt != nil {
			if alt.kind != ySeq {
				l.errorf(alt.pos, "required_plugin_versions", ErrInvalidRule, "alternatives must be a sequence of {name, version}")
				continue
			}
			for _, a := range alt.seq {
				if ar, ok := entry(a, "alternative"); ok {
					req.Alternatives = append(req.Alternatives, ar)
					met = met || nativePlugins[ar.Name]
					names = append(names, ar.Name)
				}
			}
		}
		l.rs.RequiredPluginVersions = append(l.rs.RequiredPluginVersions, req)
		switch {
		case met:
		case l.opts.skipUnknown():
			l.warnf(p.pos, "required_plugin_versions", "plugin %s is not available; rules using its fields or source are skipped", strings.Join(names, " or "))
		default:
			// Falco refuses to start (falco_engine::check_plugin_requirements):
			// the rules would silently lose what the plugin provides.
			l.errorf(p.pos, "required_plugin_versions", ErrPluginUnavailable,
				"plugin %s is not available (sysward loads no plugins; it counts %s as met, filling their fields itself)",
				strings.Join(names, " or "), strings.Join(sortedKeys(nativePlugins), ", "))
		}
	}
}

// scalar returns a key's scalar value; ok=false (with an error recorded) if
// the key is present but not a scalar.
func (l *loader) scalar(it *ynode, key, item string) (string, *ynode, bool) {
	n := it.get(key)
	if n == nil {
		return "", nil, true
	}
	if n.kind == yNull {
		return "", n, true
	}
	if n.kind != yScalar {
		l.errorf(n.pos, item, ErrInvalidRule, "%s must be a scalar, not a %s", key, n.kind)
		return "", n, false
	}
	return n.str, n, true
}

func (l *loader) boolKey(it *ynode, key, item string, def bool) (bool, bool) {
	n := it.get(key)
	if n == nil {
		return def, true
	}
	if n.kind != yScalar {
		l.errorf(n.pos, item, ErrInvalidRule, "%s must be true or false", key)
		return def, false
	}
	switch strings.ToLower(n.str) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	l.errorf(n.pos, item, ErrInvalidRule, "%s must be true or false, not %q", key, n.str)
	return def, false
}

func (l *loader) strList(n *ynode, key, item string) ([]string, bool) {
	if n == nil || n.kind == yNull {
		return nil, true
	}
	if n.kind != ySeq {
		l.errorf(n.pos, item, ErrInvalidRule, "%s must be a sequence", key)
		return nil, false
	}
	out := make([]string, 0, len(n.seq))
	for _, v := range n.seq {
		if v.kind != yScalar {
			l.errorf(v.pos, item, ErrInvalidRule, "%s entries must be scalars", key)
			return nil, false
		}
		out = append(out, v.str)
	}
	return out, true
}

// overrides reads an item's override: mapping and checks it against the
// allowed keys. It returns key -> "append"|"replace".
func (l *loader) overrides(it *ynode, item string, appendable, replaceable []string) (map[string]string, bool) {
	n := it.get("override")
	if n == nil {
		return nil, true
	}
	if n.kind != yMap {
		l.errorf(n.pos, item, ErrInvalidRule, "override must be a mapping of key: append|replace")
		return nil, false
	}
	if it.get("append") != nil {
		l.errorf(n.pos, item, ErrInvalidRule, "append and override cannot be used together")
		return nil, false
	}
	out := map[string]string{}
	ok := true
	for i, k := range n.keys {
		v := n.vals[i]
		mode := v.str
		var allowed []string
		switch mode {
		case "append":
			allowed = appendable
		case "replace":
			allowed = replaceable
		default:
			l.errorf(v.pos, item, ErrInvalidRule, "override of %s must be append or replace, not %q", k, mode)
			ok = false
			continue
		}
		if !contains(allowed, k) {
			l.errorf(v.pos, item, ErrInvalidRule, "key %s cannot be overridden with %s (allowed: %s)", k, mode, strings.Join(allowed, ", "))
			ok = false
			continue
		}
		if it.get(k) == nil {
			l.errorf(v.pos, item, ErrInvalidRule, "override names %s but the item has no %s key", k, k)
			ok = false
			continue
		}
		out[k] = mode
	}
	return out, ok
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (l *loader) checkKeys(it *ynode, item string, known []string) {
	for i, k := range it.keys {
		if !contains(known, k) {
			l.warnf(it.vals[i].pos, item, "unknown key %q ignored", k)
		}
	}
}

// listValue strips one level of quotes from a list item ('"a b"' is a b),
// as Falco does.
func listValue(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		if v, err := unescape(s); err == nil {
			return v
		}
	}
	return s
}

func (l *loader) list(it *ynode) {
	name, nn, ok := l.scalar(it, "list", "list")
	if !ok || name == "" {
		if ok {
			l.errorf(it.pos, "list", ErrInvalidRule, "list has no name")
		}
		return
	}
	item := "list " + name
	l.checkKeys(it, item, []string{"list", "items", "append", "override"})
	itemsNode := it.get("items")
	if itemsNode == nil {
		l.errorf(nn.pos, item, ErrInvalidRule, "list has no items key")
		return
	}
	items, ok := l.strList(itemsNode, "items", item)
	if !ok {
		return
	}
	app, ok := l.boolKey(it, "append", item, false)
	if !ok {
		return
	}
	ov, ok := l.overrides(it, item, []string{"items"}, []string{"items"})
	if !ok {
		return
	}
	if app {
		l.warnf(it.get("append").pos, item, "append: true is deprecated; use override")
	}
	if ov["items"] != "" {
		app = ov["items"] == "append"
	}
	// Items are kept as written (quotes too): Falco substitutes them into
	// conditions as text. A replace override defines the list, like a plain
	// definition (Falco's collector does the same).
	old := l.lists[name]
	id := l.nextIndex()
	if app {
		if old == nil {
			l.errorf(nn.pos, item, ErrNoSuchRule, "list has append but no list %s was defined before", name)
			return
		}
		old.items = append(old.items, items...)
		old.visibility = id
		return
	}
	if old == nil {
		l.listOrder = append(l.listOrder, name)
		l.lists[name] = &listItem{name: name, items: items, pos: nn.pos, index: id, visibility: id}
		return
	}
	*old = listItem{name: name, items: items, pos: nn.pos, index: old.index, visibility: id}
}

// nextIndex numbers definitions and appends in load order (Falco's
// visibility: a list or macro sees only lists or macros numbered before it).
func (l *loader) nextIndex() int {
	l.index++
	return l.index
}

func (l *loader) macro(it *ynode) {
	name, nn, ok := l.scalar(it, "macro", "macro")
	if !ok || name == "" {
		if ok {
			l.errorf(it.pos, "macro", ErrInvalidRule, "macro has no name")
		}
		return
	}
	item := "macro " + name
	l.checkKeys(it, item, []string{"macro", "condition", "append", "override"})
	cond, cn, ok := l.scalar(it, "condition", item)
	if !ok {
		return
	}
	if cn == nil {
		l.errorf(nn.pos, item, ErrInvalidRule, "macro has no condition key")
		return
	}
	app, ok := l.boolKey(it, "append", item, false)
	if !ok {
		return
	}
	ov, ok := l.overrides(it, item, []string{"condition"}, []string{"condition"})
	if !ok {
		return
	}
	if app {
		l.warnf(it.get("append").pos, item, "append: true is deprecated; use override")
	}
	if ov["condition"] != "" {
		app = ov["condition"] == "append"
	}
	old := l.macros[name]
	id := l.nextIndex()
	if app {
		if old == nil {
			l.errorf(nn.pos, item, ErrNoSuchRule, "macro has append but no macro %s was defined before", name)
			return
		}
		old.cond = old.cond + " " + cond
		old.condNode = nil // positions refer to two places now
		old.visibility = id
		return
	}
	if old == nil {
		l.macroOrder = append(l.macroOrder, name)
		l.macros[name] = &macroItem{name: name, cond: cond, pos: nn.pos, condNode: cn, index: id, visibility: id}
		return
	}
	*old = macroItem{name: name, cond: cond, pos: nn.pos, condNode: cn, index: old.index, visibility: id}
}

var (
	ruleAppendable  = []string{"condition", "output", "desc", "tags", "exceptions"}
	ruleReplaceable = []string{"condition", "output", "desc", "priority", "capture", "capture_duration", "tags", "exceptions", "enabled", "warn_evttypes", "skip-if-unknown-filter"}
)

var ruleKeys = []string{"rule", "desc", "condition", "output", "priority", "source", "enabled", "tags", "exceptions",
	"warn_evttypes", "skip-if-unknown-filter", "append", "override", "capture", "capture_duration"}

func (l *loader) rule(it *ynode) {
	name, nn, ok := l.scalar(it, "rule", "rule")
	if !ok || name == "" {
		if ok {
			l.errorf(it.pos, "rule", ErrInvalidRule, "rule has no name")
		}
		return
	}
	item := "rule " + name
	l.checkKeys(it, item, ruleKeys)
	app, ok := l.boolKey(it, "append", item, false)
	if !ok {
		return
	}
	ov, ok := l.overrides(it, item, ruleAppendable, ruleReplaceable)
	if !ok {
		return
	}
	if ov != nil {
		// as Falco: every overridable key the item defines must be named
		// under override
		for _, k := range ruleReplaceable {
			if n := it.get(k); n != nil && ov[k] == "" {
				l.errorf(n.pos, item, ErrInvalidRule, "unexpected key %s: no corresponding entry under override", k)
				ok = false
			}
		}
		if !ok {
			return
		}
	}
	if app {
		l.warnf(it.get("append").pos, item, "append: true is deprecated; use override")
	}
	old := l.rules[name]

	// Neither condition, output, desc nor priority: the legacy form that
	// only switches an earlier rule on or off.
	if !app && ov == nil && it.get("condition") == nil && it.get("output") == nil && it.get("desc") == nil && it.get("priority") == nil {
		if it.get("enabled") == nil {
			l.errorf(nn.pos, item, ErrInvalidRule, "rule has no condition, output, desc or priority, and no enabled key")
			return
		}
		if old == nil {
			l.errorf(nn.pos, item, ErrNoSuchRule, "rule has only an enabled key but no rule %s was defined before", name)
			return
		}
		l.warnf(it.get("enabled").pos, item, "a rule item with only enabled is deprecated; use override: {enabled: replace}")
		if v, ok := l.boolKey(it, "enabled", item, true); ok {
			old.Enabled = v
		}
		return
	}

	if app || ov != nil {
		if old == nil {
			l.errorf(nn.pos, item, ErrNoSuchRule, "rule has append/override but no rule %s was defined before", name)
			return
		}
		l.modifyRule(old, it, item, app, ov)
		return
	}

	r := &Rule{Name: name, Pos: nn.pos, Enabled: true, WarnEvttype: true, Source: SourceSyscall}
	for _, k := range []string{"condition", "output", "desc", "priority"} {
		if it.get(k) == nil {
			l.errorf(nn.pos, item, ErrInvalidRule, "rule has no %s key", k)
			ok = false
		}
	}
	if !ok {
		return
	}
	l.setRuleKeys(r, it, item, nil)
	if old != nil { // redefinition replaces the rule, keeping its place
		*old = *r
		return
	}
	l.rules[name] = r
	l.rs.Rules = append(l.rs.Rules, r)
}

// setRuleKeys sets every key present in it; only keys in only (if non-nil).
func (l *loader) setRuleKeys(r *Rule, it *ynode, item string, only map[string]string) {
	want := func(k string) bool { return it.get(k) != nil && (only == nil || only[k] != "") }
	if want("condition") {
		if s, n, ok := l.scalar(it, "condition", item); ok {
			r.Condition, r.condNode = s, n
		}
	}
	if want("output") {
		if s, n, ok := l.scalar(it, "output", item); ok {
			r.Output, r.outNode = strings.TrimSpace(s), n
		}
	}
	if want("desc") {
		if s, _, ok := l.scalar(it, "desc", item); ok {
			r.Desc = strings.TrimSpace(s)
		}
	}
	if want("priority") {
		if s, n, ok := l.scalar(it, "priority", item); ok {
			p, err := ParsePriority(s)
			if err != nil {
				l.errorf(n.pos, item, ErrUnknownPriority, "%q", s)
			}
			r.Priority = p
		}
	}
	if only == nil && it.get("source") != nil {
		if s, _, ok := l.scalar(it, "source", item); ok && s != "" {
			r.Source = s
		}
	}
	if want("enabled") {
		r.Enabled, _ = l.boolKey(it, "enabled", item, true)
	}
	if want("warn_evttypes") {
		r.WarnEvttype, _ = l.boolKey(it, "warn_evttypes", item, true)
	}
	if want("capture") {
		l.boolKey(it, "capture", item, false)
	}
	if want("capture_duration") {
		if v, n, ok := l.scalar(it, "capture_duration", item); ok && n != nil {
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				l.errorf(n.pos, item, ErrInvalidRule, "capture_duration must be a number of milliseconds, not %q", v)
			}
		}
	}
	if want("skip-if-unknown-filter") {
		r.SkipUnknown, _ = l.boolKey(it, "skip-if-unknown-filter", item, false)
	}
	if want("tags") {
		if t, ok := l.strList(it.get("tags"), "tags", item); ok {
			r.Tags = t
		}
	}
	if want("exceptions") {
		r.Exceptions = l.exceptions(it.get("exceptions"), item, false)
	}
}

func (l *loader) modifyRule(r *Rule, it *ynode, item string, app bool, ov map[string]string) {
	if app { // legacy append: condition and exceptions append
		ov = map[string]string{}
		for _, k := range []string{"condition", "exceptions"} {
			if it.get(k) != nil {
				ov[k] = "append"
			}
		}
		if len(ov) == 0 {
			l.errorf(it.pos, item, ErrInvalidRule, "appended rule must have exceptions or condition property")
			return
		}
		for _, k := range it.keys {
			if k != "rule" && k != "append" && k != "condition" && k != "exceptions" && k != "source" {
				l.warnf(it.get(k).pos, item, "key %s is ignored with append: true (only condition and exceptions append; use override)", k)
			}
		}
	}
	replace := map[string]string{}
	for k, mode := range ov {
		if mode == "replace" {
			replace[k] = mode
		}
	}
	l.setRuleKeys(r, it, item, replace)
	for k, mode := range ov {
		if mode != "append" {
			continue
		}
		switch k {
		case "condition":
			if s, _, ok := l.scalar(it, "condition", item); ok {
				r.Condition = r.Condition + " " + s
				r.condNode = nil
			}
		case "output":
			if s, _, ok := l.scalar(it, "output", item); ok {
				r.Output = r.Output + " " + strings.TrimSpace(s)
				r.outNode = nil // positions refer to two places now
			}
		case "desc":
			if s, _, ok := l.scalar(it, "desc", item); ok {
				r.Desc = r.Desc + " " + strings.TrimSpace(s)
			}
		case "tags":
			if t, ok := l.strList(it.get("tags"), "tags", item); ok {
				tags := append([]string(nil), r.Tags...)
				for _, x := range t {
					if !contains(tags, x) {
						tags = append(tags, x)
					}
				}
				r.Tags = tags
			}
		case "exceptions":
			for _, ex := range l.exceptions(it.get("exceptions"), item, true) {
				merged := false
				for i := range r.Exceptions {
					if r.Exceptions[i].Name != ex.Name {
						continue
					}
					merged = true
					if ex.Fields != nil || ex.hasComps {
						l.errorf(ex.Pos, item+" exception "+ex.Name, ErrInvalidRule, "can not append exception fields or comps to an existing exception, only values")
						continue
					}
					l.exValues(ex.rawValues, &r.Exceptions[i], item+" exception "+ex.Name)
				}
				if !merged {
					if ex.Fields == nil {
						l.errorf(ex.Pos, item+" exception "+ex.Name, ErrInvalidRule, "exception has no fields and no exception %s was defined before", ex.Name)
						continue
					}
					if len(ex.Values) == 0 {
						l.errorf(ex.Pos, item+" exception "+ex.Name, ErrInvalidRule, "rule exception must have values property with a list of values")
						continue
					}
					r.Exceptions = append(r.Exceptions, ex)
				}
			}
		}
	}
}

// isModifiedOp reports whether op is "strop oneof|anyof|allof".
func isModifiedOp(op string) bool {
	base, mod, ok := strings.Cut(op, " ")
	return ok && (mod == "oneof" || mod == "anyof" || mod == "allof") &&
		contains([]string{"=", "==", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex"}, base)
}

// exValues reads an exception's values according to its fields.
func (l *loader) exValues(vn *ynode, ex *Exception, where string) bool {
	if vn == nil || vn.kind == yNull {
		return true
	}
	if vn.kind != ySeq {
		l.errorf(vn.pos, where, ErrInvalidRule, "values must be a sequence")
		return false
	}
	if ex.SingleField {
		var vals []string
		for _, v := range vn.seq {
			if v.kind != yScalar {
				l.errorf(v.pos, where, ErrInvalidRule, "values of a single-field exception must be scalars")
				return false
			}
			vals = append(vals, v.str)
		}
		if len(vals) > 0 {
			ex.Values = append(ex.Values, []ExceptionValue{{List: vals, Pos: vn.pos}})
		}
		return true
	}
	for _, tup := range vn.seq {
		if tup.kind != ySeq || len(tup.seq) != len(ex.Fields) {
			l.errorf(tup.pos, where, ErrInvalidRule, "each value must be a sequence of %d items, one per field", len(ex.Fields))
			return false
		}
		var row []ExceptionValue
		for _, v := range tup.seq {
			switch v.kind {
			case yScalar:
				row = append(row, ExceptionValue{Str: v.str, Pos: v.pos})
			case ySeq:
				vals, ok := l.strList(v, "values", where)
				if !ok {
					return false
				}
				row = append(row, ExceptionValue{List: vals, Pos: v.pos})
			default:
				l.errorf(v.pos, where, ErrInvalidRule, "exception value must be a string or a list")
				return false
			}
		}
		ex.Values = append(ex.Values, row)
	}
	return true
}

func (l *loader) exceptions(n *ynode, item string, appending bool) []Exception {
	if n == nil || n.kind == yNull {
		return nil
	}
	if n.kind != ySeq {
		l.errorf(n.pos, item, ErrInvalidRule, "exceptions must be a sequence")
		return nil
	}
	var out []Exception
	for _, e := range n.seq {
		if e.kind != yMap {
			l.errorf(e.pos, item, ErrInvalidRule, "each exception must be a mapping")
			continue
		}
		nameN := e.get("name")
		if nameN == nil || nameN.kind != yScalar || nameN.str == "" {
			l.errorf(e.pos, item, ErrInvalidRule, "exception has no name")
			continue
		}
		ex := Exception{Name: nameN.str, Pos: e.pos, hasComps: e.get("comps") != nil}
		where := item + " exception " + ex.Name
		fieldsN, compsN := e.get("fields"), e.get("comps")
		switch {
		case (fieldsN == nil || fieldsN.kind == yNull) && appending:
			// appending values to an exception defined earlier: its
			// fields decide how to read them (in modifyRule).
			ex.rawValues = e.get("values")
		case fieldsN == nil || fieldsN.kind == yNull:
			l.errorf(e.pos, where, ErrInvalidRule, "exception has no fields")
			continue
		case fieldsN.kind == yScalar:
			ex.SingleField = true
			ex.Fields = []string{fieldsN.str}
			comp := "in"
			if compsN != nil && compsN.kind == yScalar {
				comp = strings.Trim(compsN.str, " \t\r\n")
			} else if compsN != nil && compsN.kind != yNull {
				l.errorf(compsN.pos, where, ErrInvalidRule, "comps must be a single operator when fields is a single field")
				continue
			}
			if comp != "in" && comp != "pmatch" && comp != "intersects" && !isModifiedOp(comp) {
				l.errorf(compsN.pos, where, ErrInvalidRule, "when fields is a single field, comps must be in, pmatch, intersects or a modified operator (startswith anyof ...), not %q", comp)
				continue
			}
			ex.Comps = []string{comp}
			if !l.exValues(e.get("values"), &ex, where) {
				continue
			}
		default:
			fields, ok := l.strList(fieldsN, "fields", where)
			if !ok {
				continue
			}
			ex.Fields = fields
			if compsN != nil && compsN.kind != yNull {
				comps, ok := l.strList(compsN, "comps", where)
				if !ok {
					continue
				}
				if len(comps) != len(fields) {
					l.errorf(compsN.pos, where, ErrInvalidRule, "fields and comps lists must have equal length")
					continue
				}
				ex.Comps = comps
			} else {
				for range fields {
					ex.Comps = append(ex.Comps, "=")
				}
			}
			if !l.exValues(e.get("values"), &ex, where) {
				continue
			}
		}
		for i, c := range ex.Comps {
			c = strings.Trim(c, " \t\r\n") // Falco's normalize_comp
			ex.Comps[i] = c
			if (!contains(Operators(), c) || c == "exists") && !isModifiedOp(c) {
				l.errorf(e.pos, where, ErrInvalidRule, "comps: %q is not a comparison operator", c)
			}
		}
		out = append(out, ex)
	}
	return out
}

// --- compilation ------------------------------------------------------------

func (l *loader) compileAll() {
	// lists: an item naming a list defined before this one (by load
	// order) stands for that list's items, one level deep, as in Falco.
	var lists []compiledList
	totalItems := 0
	for _, name := range l.listOrder {
		li := l.lists[name]
		n := 0
		for _, it := range li.items {
			if ref := l.lists[it]; ref != nil && ref.index < li.visibility {
				n += len(ref.items)
			} else {
				n++
			}
		}
		totalItems += n
		if n > maxListItems || totalItems > maxLoadListItems {
			l.errs = append(l.errs, &Error{Pos: li.pos, Item: "list " + name,
				Err: limitErr("expands to %d items (lists inside it expanded), %d in all lists so far; limits %d per list, %d in all", n, totalItems, maxListItems, maxLoadListItems)})
			return
		}
		items := make([]string, 0, n)
		for _, it := range li.items {
			if ref := l.lists[it]; ref != nil && ref.index < li.visibility {
				items = append(items, ref.items...)
			} else {
				items = append(items, it)
			}
		}
		lists = append(lists, compiledList{name: name, items: items})
		shown := make([]string, len(items))
		for i, it := range items {
			shown[i] = listValue(it)
		}
		l.rs.Lists = append(l.rs.Lists, ListInfo{Name: name, Items: shown, Pos: li.pos})
	}

	// macros: every macro must parse (lists substituted into its text) and
	// may use only macros defined before it, used or not.
	macros := map[string]*macroDef{}
	for _, name := range l.macroOrder {
		m := l.macros[name]
		l.rs.Macros = append(l.rs.Macros, MacroInfo{Name: name, Condition: m.cond, Pos: m.pos})
		text, pm, err := resolveLists(m.cond, lists, &l.substBudget)
		if err != nil {
			l.errs = append(l.errs, &Error{Pos: condStart(m.condNode, m.pos), Item: "macro " + name, Err: err})
			return
		}
		ast, err := parseCondition(text, loaderParseDepth)
		if err != nil {
			l.condErr(m.pos, m.condNode, pm, "macro "+name, err)
			continue
		}
		macros[name] = &macroDef{name: name, ast: ast, pos: m.pos, pm: pm, node: m.condNode}
		walkIdents(ast, func(id *IdentExpr) {
			if ref := l.macros[id.Name]; ref == nil || ref.index >= m.visibility {
				l.condErr(m.pos, m.condNode, pm, "macro "+name, &condError{pos: id.P, err: fmt.Errorf("%w: %s", ErrUndefinedMacro, id.Name)})
			}
		})
	}
	if len(l.errs) > 0 {
		return
	}
	l.macroDefs = macros
	for _, r := range l.rs.Rules {
		if l.exhausted {
			break // one error for a budget of the whole load is enough
		}
		l.compileRule(r, macros, lists)
	}
}

// condStart is where a condition's scalar starts in the file (the item's
// position when the condition was appended to).
func condStart(n *ynode, item Position) Position {
	if n != nil {
		return n.pos
	}
	return item
}

// condPosAt is the line and column of offset idx in s, counted as the
// parser counts them.
func condPosAt(s string, idx int) CondPos {
	p := CondPos{Line: 1, Col: 1}
	for i := 0; i < idx && i < len(s); i++ {
		p.Col++
		if s[i] == '\r' || s[i] == '\n' {
			p.Line++
			p.Col = 1
		}
	}
	p.Idx = idx
	return p
}

// walkIdents calls f for every identifier (macro reference) in e.
func walkIdents(e Expr, f func(*IdentExpr)) {
	switch e := e.(type) {
	case *AndExpr:
		for _, c := range e.Children {
			walkIdents(c, f)
		}
	case *OrExpr:
		for _, c := range e.Children {
			walkIdents(c, f)
		}
	case *NotExpr:
		walkIdents(e.Child, f)
	case *IdentExpr:
		f(e)
	}
}

// condErr records a condition error at its place in the file: pm maps the
// rewritten condition (lists substituted, exceptions appended) back to the
// text in the file. An error inside a macro a rule uses points at the macro.
func (l *loader) condErr(itemPos Position, node *ynode, pm posMap, item string, err error) {
	pos := itemPos
	var se *SyntaxError
	var ce *condError
	at := func(node *ynode, pm posMap, cp CondPos) Position {
		idx := pm.back(cp.Idx)
		if idx < 0 || node == nil {
			return itemPos
		}
		return l.condFilePos(itemPos, node, CondPos{Idx: idx})
	}
	// in the message, positions refer to the condition as written
	orig := func(cp CondPos) CondPos {
		if len(pm) == 0 || node == nil {
			return cp
		}
		if idx := pm.back(cp.Idx); idx >= 0 {
			return condPosAt(node.str, idx)
		}
		return cp
	}
	switch {
	case errors.As(err, &se):
		pos = at(node, pm, se.Pos)
		se.Pos = orig(se.Pos)
	case errors.As(err, &ce) && ce.macro == "":
		pos = at(node, pm, ce.pos)
		ce.pos = orig(ce.pos)
	case errors.As(err, &ce):
		if m := l.macroDefs[ce.macro]; m != nil {
			itemPos = m.pos
			pos = at(m.node, m.pm, ce.pos)
		}
	case node != nil:
		pos = node.pos
	}
	l.errs = append(l.errs, &Error{Pos: pos, Item: item, Err: err})
}

func (l *loader) compileRule(r *Rule, macros map[string]*macroDef, lists []compiledList) {
	item := "rule " + r.Name
	src := sourceOf(r.Source)
	if src < 0 {
		r.Skipped = fmt.Sprintf("unknown source %s", r.Source)
		l.warnf(r.Pos, item, "skipped: source %s is not available", r.Source)
		return
	}
	cond := r.Condition
	var pm posMap
	if len(r.Exceptions) > 0 {
		cond, pm = exceptionsText(cond, r.Exceptions)
	}
	text, lm, err := resolveLists(cond, lists, &l.substBudget)
	if err != nil {
		l.errs = append(l.errs, &Error{Pos: condStart(r.condNode, r.Pos), Item: item, Err: err})
		l.exhausted = l.substBudget < 0
		return
	}
	pm = append(lm, pm...)
	ast, err := parseCondition(text, loaderParseDepth)
	if err != nil {
		l.condErr(r.Pos, r.condNode, pm, item, err)
		return
	}
	c := &compiler{reg: registries[src], macros: macros, maxNodes: max(1, min(maxRuleNodes, maxLoadNodes-l.nodes))}
	ev, err := c.compile(ast)
	l.nodes += c.nodes
	if errors.Is(err, ErrLimit) {
		// the expansion as a whole is too big: name the rule's condition,
		// not the node inside some macro where the count ran out
		msg := limitErr("the condition, with its macros expanded at each use, has more than %d nodes (the limit per rule)", maxRuleNodes)
		if c.maxNodes < maxRuleNodes {
			msg = limitErr("the conditions of all rules, with their macros expanded at each use, have more than %d nodes (the limit per load)", maxLoadNodes)
			l.exhausted = true
		}
		l.errs = append(l.errs, &Error{Pos: condStart(r.condNode, r.Pos), Item: item, Err: msg})
		return
	}
	if err != nil {
		// An unknown field is a load error as in Falco
		// (userspace/engine/rule_loader_compiler.cpp, compile_condition:
		// "nonexistent field" is a warning only with skip-if-unknown-filter,
		// otherwise LOAD_ERR_COMPILE_CONDITION).
		var uf *unknownFieldError
		if errors.As(err, &uf) && l.skipUnknown(r) {
			r.Skipped = "unsupported field " + uf.field
			r.MissingField = uf.field
			l.warnf(r.Pos, item, "skipped: field %s is not supported by sysward", uf.field)
			return
		}
		l.condErr(r.Pos, r.condNode, pm, item, err)
		return
	}
	types := c.eventTypes(ast, false)
	out := compileOutput(registries[src], r.Output)
	if len(out.unknown) > 0 {
		switch {
		case r.SkipUnknown:
			// Falco skips the whole rule (rule_loader_compiler.cpp,
			// compile_rule_infos: skip_if_unknown_filter on the output).
			r.Skipped = "unsupported output field " + out.unknown[0]
			r.MissingField = out.unknown[0]
			l.warnf(r.Pos, item, "skipped: output field %s is not supported by sysward", out.unknown[0])
			return
		case l.opts.skipUnknown():
			for _, f := range out.unknown {
				l.warnf(r.Pos, item, "output field %s is not supported by sysward; it prints <NA>", f)
			}
		default:
			for i, f := range out.unknown {
				l.errs = append(l.errs, &Error{Pos: l.outputPos(r, out.unknownAt[i]), Item: item,
					Err: fmt.Errorf("%w %q in output for source %s", ErrUnknownField, f, r.Source)})
			}
			return
		}
	}
	r.compiled = &compiledRule{source: src, eval: ev, types: types, output: out}
	r.EventTypes = types.list()
	r.AllEventTypes = types.all()
	// Falco warns only for syscall rules (rule_loader_compiler.cpp: the
	// evttypes check is under the syscall source); other sources have no
	// evt.type index to fall out of.
	if types.negated && r.WarnEvttype && r.Enabled && src == srcSyscall {
		// Falco's wording, so people who grep for it find it
		if types.all() {
			l.warnf(r.Pos, item, "Rule matches too many evt.type values: the condition does not restrict evt.type, so the rule runs for every event (add evt.type or set warn_evttypes: false)")
		} else {
			l.warnf(r.Pos, item, "Rule matches too many evt.type values: every event type except %s", strings.Join(sortedKeys(types.set), ", "))
		}
	}
}

// skipUnknown reports whether a rule using a field sysward lacks is skipped
// rather than a load error: the rule says skip-if-unknown-filter (Falco's
// per-rule opt-out) or the load options say so for every rule.
func (l *loader) skipUnknown(r *Rule) bool { return r.SkipUnknown || l.opts.skipUnknown() }

// outputPos is the file position of byte off of r.Output (which was
// trimmed of the scalar's leading space).
func (l *loader) outputPos(r *Rule, off int) Position {
	n := r.outNode
	if n == nil || n.kind != yScalar {
		return r.Pos
	}
	lead := len(n.str) - len(strings.TrimLeftFunc(n.str, unicode.IsSpace))
	return l.condFilePos(r.Pos, n, CondPos{Idx: off + lead})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// condFilePos maps a position inside a condition to the file: it walks the
// YAML source from the start of the scalar alongside the condition text,
// skipping the indentation and line breaks that YAML folding removed.
func (l *loader) condFilePos(itemPos Position, node *ynode, cp CondPos) Position {
	if node == nil {
		return itemPos
	}
	src := l.files[node.pos.File]
	lines := l.lineStarts(node.pos.File)
	off := lineColOffset(lines, len(src), node.pos.Line, node.pos.Col)
	if off < 0 {
		return node.pos
	}
	if off < len(src) && (src[off] == '|' || src[off] == '>') {
		nl := bytes.IndexByte(src[off:], '\n')
		if nl < 0 {
			return node.pos
		}
		off += nl + 1
	} else if off < len(src) && (src[off] == '"' || src[off] == '\'') {
		off++
	}
	var cond string
	if node.kind == yScalar {
		cond = node.str
	}
	i, j := 0, off
	for i < cp.Idx && i < len(cond) && j < len(src) {
		switch {
		case cond[i] == src[j]:
			i++
			j++
		case src[j] == ' ' || src[j] == '\n' || src[j] == '\r' || src[j] == '\t':
			j++
		case cond[i] == ' ' || cond[i] == '\n':
			i++
		default:
			return node.pos // escapes in a quoted scalar: give up
		}
	}
	for i < len(cond) && j < len(src) && src[j] != cond[i] && isSpace(src[j]) {
		j++ // the condition continues on the next line
	}
	return offsetPos(node.pos.File, lines, min(j, len(src)))
}

// lineStarts is the offset of each line of file, computed once per file:
// error positions are then O(log n) each, not a walk from the file's start
// (20 000 errors in a 2 MB file would cost 20 000 walks).
func (l *loader) lineStarts(file string) []int {
	if ls, ok := l.lines[file]; ok {
		return ls
	}
	if l.lines == nil {
		l.lines = map[string][]int{}
	}
	src := l.files[file]
	ls := []int{0}
	for i, c := range src {
		if c == '\n' {
			ls = append(ls, i+1)
		}
	}
	l.lines[file] = ls
	return ls
}

// lineColOffset is the offset of line:col (1-based) in a source of size n
// whose lines start at lines; -1 if there is no such place.
func lineColOffset(lines []int, n, line, col int) int {
	if line < 1 || line > len(lines) {
		return -1
	}
	off := lines[line-1] + col - 1
	if off > n {
		return -1
	}
	return off
}

// offsetPos is the line:col (1-based) of offset off.
func offsetPos(file string, lines []int, off int) Position {
	i := sort.Search(len(lines), func(i int) bool { return lines[i] > off }) // lines[i-1] <= off
	return Position{File: file, Line: i, Col: off - lines[i-1] + 1}
}
