package profiles

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkProfileOps measures sysward's profile operations against
// baselines measured in the same run and prints ratios:
//   - strict Parse vs a plain encoding/json.Unmarshal of the same bytes
//     (what strictness and positioned errors cost);
//   - canonical Marshal vs json.MarshalIndent;
//   - AllowedSyscalls (one pass over the entries per arch) vs one Decide per
//     syscall name (the naive way), and Decide for one name vs a Go map lookup.
func BenchmarkProfileOps(b *testing.B) {
	data, err := os.ReadFile("../examples/profiles/docker-default.json")
	if err != nil {
		b.Fatal(err)
	}
	p, err := Parse("docker-default.json", data)
	if err != nil {
		b.Fatal(err)
	}
	set := map[string]bool{}
	for _, n := range p.AllowedSyscalls(ArchX86_64) {
		set[n] = true
	}
	type row struct {
		name, base string
		op, bl     func(*testing.B)
	}
	rows := []row{
		{"Parse (strict)", "json.Unmarshal",
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := Parse("x", data); err != nil {
						b.Fatal(err)
					}
				}
			},
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					var q Profile
					if err := json.Unmarshal(data, &q); err != nil {
						b.Fatal(err)
					}
				}
			}},
		{"Marshal (canonical)", "json.MarshalIndent",
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					Marshal(p)
				}
			},
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					json.MarshalIndent(p, "", "  ")
				}
			}},
		{"AllowedSyscalls(x86_64)", "Decide per name",
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					p.AllowedSyscalls(ArchX86_64)
				}
			},
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					var out []string
					for _, n := range Syscalls(ArchX86_64) {
						if p.Decide(ArchX86_64, n).MayAllow(p) {
							out = append(out, n)
						}
					}
				}
			}},
		{"Decide(x86_64, \"read\")", "map lookup",
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					p.Decide(ArchX86_64, "read")
				}
			},
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					_ = set["read"]
				}
			}},
	}
	// Sub-benchmarks record their ns/op; the parent prints the ratio table.
	// (testing.Benchmark cannot be called from inside a benchmark: it
	// waits on the lock the running benchmark holds.)
	ns := map[string]float64{}
	measure := func(name string, f func(*testing.B)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			f(b)
			ns[name] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
	}
	for _, r := range rows {
		measure(r.name, r.op)
		measure("baseline "+r.base, r.bl)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-26s %12s %-20s %12s %8s\n", "operation", "ns/op", "baseline", "ns/op", "ratio")
	for _, r := range rows {
		on, bn := ns[r.name], ns["baseline "+r.base]
		if bn == 0 {
			bn = 1
		}
		fmt.Fprintf(&sb, "%-26s %12.0f %-20s %12.1f %7.1fx\n", r.name, on, r.base, bn, on/bn)
	}
	fmt.Print(sb.String()) // b.Log of a parent benchmark is hidden without -v
}
