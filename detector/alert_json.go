package detector

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Falco's JSON alert, byte for byte (falco userspace/engine/formats.cpp,
// falco_formats::format_event, checked against Falco 0.39):
//
//   - The object is an nlohmann::json, whose objects are std::maps: keys come
//     out sorted, so the order is hostname, output, output_fields, priority,
//     rule, source, tags, time. output_fields is sorted the same way.
//   - "time" is UTC, strftime("%FT%T") plus ".%09luZ": always nine digits.
//   - "output" is the text line: the prefix "%evt.time: <Priority>" (local
//     time of day with nanoseconds, e.g. "13:53:31.726060287: Warning"), a
//     space, then the rule's formatted output.
//   - output_fields holds the rule's output fields plus the prefix's field
//     evt.time as integer nanoseconds since the epoch.
//   - tags is a std::set: sorted, unique, and [] (not null) when empty.
//   - Strings are dumped with ensure_ascii=false and invalid UTF-8 replaced
//     by U+FFFD: only '"', '\\' and control characters are escaped ("\u001f"
//     lowercase); '<', '>', '&', U+2028 and U+2029 are written as they are,
//     which is why this does not go through encoding/json.
//   - One U+FFFD per maximal subpart of an ill-formed sequence (Unicode
//     §3.9), not one per byte: "\xe2\x82" (a cut "€") is one, "\xed\xa0\x80"
//     (a surrogate) three. Falco's formats.cpp (falco_formats::format_event,
//     Falco after 65273dae, 2026-07) sanitizes output_fields with libsinsp's
//     utf8::sanitize (libs userspace/libsinsp/utils.h, utf8::seq_len, tested
//     in test/sinsp_utils.ut.cpp utf8_sanitize) and dumps the alert with
//     nlohmann::json error_handler_t::replace, whose decoder re-reads the
//     byte that broke a sequence: both give maximal subparts.

// Falco's time layouts.
const (
	// TimeLayoutJSON is the "time" member of a JSON alert (always UTC).
	TimeLayoutJSON = "2006-01-02T15:04:05.000000000Z"
	// TimeLayoutText is %evt.time, the time of day that starts a text alert.
	TimeLayoutText = "15:04:05.000000000"
)

// FieldEvtTime is the output field Falco always adds from its line prefix.
const FieldEvtTime = "evt.time"

// AppendPrefix appends Falco's text prefix "HH:MM:SS.nnnnnnnnn: Priority" for
// a, using the location of a.Time (time.Unix gives local time, as Falco's
// %evt.time does).
func (a *Alert) AppendPrefix(dst []byte) []byte {
	dst = a.Time.AppendFormat(dst, TimeLayoutText)
	dst = append(dst, ": "...)
	return append(dst, a.Priority.String()...)
}

// AppendText appends the full Falco text line for a, without a newline:
// "HH:MM:SS.nnnnnnnnn: Priority output". Output is the rule's formatted
// output; if it already starts with this alert's prefix it is not repeated.
//
// Control characters are escaped (appendTextEscaped), as Falco 0.44 does for
// its plain-text outputs (falcosecurity/falco#3895): a workload shapes
// fields such as proc.cmdline and file names, and a newline there would
// otherwise forge whole alert lines in stdout, files and syslog, and an
// ESC sequence would reach the terminal of whoever reads them.
func (a *Alert) AppendText(dst []byte) []byte {
	dst = a.appendPrefixSep(dst)
	return appendTextEscaped(dst, a.Output)
}

// appendTextEscaped appends s with its control characters escaped: \n, \r
// and \t by name, the other C0 controls and DEL as \xHH, the C1 controls
// (U+0080 to U+009F) as \u00HH. Everything else, including invalid UTF-8,
// is kept as it is.
func appendTextEscaped(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f: // U+0080..U+009F
			dst = append(dst, '\\', 'u', '0', '0', hex[s[i+1]>>4], hex[s[i+1]&0xf])
			i += 2
			continue
		default:
			dst = append(dst, c)
		}
		i++
	}
	return dst
}

// appendPrefixSep appends the prefix and a space, unless Output already
// carries them (an alert decoded from Falco's JSON).
func (a *Alert) appendPrefixSep(dst []byte) []byte {
	start := len(dst)
	dst = a.AppendPrefix(dst)
	prefix := dst[start:]
	if len(a.Output) > len(prefix) && a.Output[len(prefix)] == ' ' && a.Output[:len(prefix)] == string(prefix) {
		return dst[:start]
	}
	return append(dst, ' ')
}

// AppendJSON appends a as Falco's JSON alert (see the comment at the top of
// this file for the exact shape), without a newline.
func (a *Alert) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"hostname":`...)
	dst = appendJSONString(dst, a.Hostname)
	dst = append(dst, `,"output":`...)
	// The prefix is plain ASCII (digits, ':', '.', a priority name): only
	// the rule's output needs escaping.
	dst = append(dst, '"')
	dst = a.appendPrefixSep(dst)
	dst = appendEscaped(dst, a.Output)
	dst = append(dst, '"')
	dst = append(dst, `,"output_fields":`...)
	dst = a.appendFields(dst)
	dst = append(dst, `,"priority":`...)
	dst = appendJSONString(dst, a.Priority.String())
	dst = append(dst, `,"rule":`...)
	dst = appendJSONString(dst, a.Rule)
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, a.Source)
	dst = append(dst, `,"tags":[`...)
	dst = appendTags(dst, a.Tags)
	dst = append(dst, `],"time":"`...)
	dst = a.Time.UTC().AppendFormat(dst, TimeLayoutJSON)
	return append(dst, `"}`...)
}

// MarshalJSON writes a exactly as Falco writes a JSON alert, so falcosidekick
// (its types.FalcoPayload) and anything else that reads Falco alerts takes it.
// Decoding with encoding/json works field by field; "output" then carries the
// prefix, which AppendText recognizes and does not repeat.
func (a Alert) MarshalJSON() ([]byte, error) {
	return a.AppendJSON(make([]byte, 0, 512)), nil
}

func (a *Alert) appendFields(dst []byte) []byte {
	_, hasTime := a.OutputFields[FieldEvtTime]
	n := len(a.OutputFields)
	if !hasTime {
		n++
	}
	var small [16]string
	keys := small[:0]
	if n > len(small) {
		keys = make([]string, 0, n)
	}
	for k := range a.OutputFields {
		keys = append(keys, k)
	}
	if !hasTime {
		keys = append(keys, FieldEvtTime)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		if k == FieldEvtTime && !hasTime {
			dst = strconv.AppendInt(dst, a.Time.UnixNano(), 10)
			continue
		}
		dst = appendJSONValue(dst, a.OutputFields[k])
	}
	return append(dst, '}')
}

func appendTags(dst []byte, tags []string) []byte {
	if len(tags) == 0 {
		return dst
	}
	sorted := slices.IsSorted(tags)
	if !sorted {
		tags = slices.Sorted(slices.Values(tags))
	}
	for i, t := range tags {
		if i > 0 && t == tags[i-1] {
			continue // std::set: unique
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, t)
	}
	return dst
}

// appendJSONValue writes one output field value. Falco's fields are strings,
// numbers, booleans or null (<NA>); anything else goes through encoding/json.
func appendJSONValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendJSONString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int8:
		return strconv.AppendInt(dst, int64(v), 10)
	case int16:
		return strconv.AppendInt(dst, int64(v), 10)
	case int32:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case float64:
		return appendFloat(dst, v)
	case float32:
		return appendFloat(dst, float64(v))
	case time.Duration:
		return strconv.AppendInt(dst, int64(v), 10)
	case []string:
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, s)
		}
		return append(dst, ']')
	}
	b, err := json.Marshal(v)
	if err != nil {
		return appendJSONString(dst, err.Error())
	}
	return append(dst, b...)
}

func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...) // nlohmann dumps non-finite numbers as null
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped escapes s as nlohmann::json::dump(ensure_ascii=false,
// error_handler_t::replace) does.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\ufffd"...)
				i += invalidUTF8Len(s[i:])
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		default:
			dst = append(dst, `\u00`...)
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}

// invalidUTF8Len is the length of the maximal subpart at the start of s, an
// ill-formed UTF-8 sequence: the lead byte and the continuation bytes that
// fit a valid sequence before the first that does not (1 to 3 bytes). The
// first continuation byte has a narrower range after E0, ED, F0 and F4
// (overlongs, surrogates, past U+10FFFF), as in libsinsp's utf8::seq_len.
func invalidUTF8Len(s string) int {
	c := s[0]
	need, lo, hi := 0, byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		need = 2
	case c == 0xe0:
		need, lo = 3, 0xa0
	case c == 0xed:
		need, hi = 3, 0x9f
	case c >= 0xe1 && c <= 0xef:
		need = 3
	case c == 0xf0:
		need, lo = 4, 0x90
	case c == 0xf4:
		need, hi = 4, 0x8f
	case c >= 0xf1 && c <= 0xf3:
		need = 4
	default: // a continuation byte, C0, C1, F5..FF
		return 1
	}
	if len(s) < 2 || s[1] < lo || s[1] > hi {
		return 1
	}
	n := 2
	for n < need && n < len(s) && s[n]&0xc0 == 0x80 {
		n++
	}
	return min(n, need-1) // the sequence is ill-formed, so shorter than need
}
