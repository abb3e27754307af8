// Command testreport reads `go test -json` on stdin and prints what a person needs from a
// test run: every skipped test with its reason (plain `go test` hides them), the whole
// output of every failed test, go test's per-package lines, and a closing count.
//
//	go test -json ./... | go run ./scripts/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// event is one line of test2json's output.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	output := map[string][]string{} // package/test -> output lines
	var passed, failed, skipped int
	var broken bool
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Build errors and the like arrive as plain text.
			fmt.Println(sc.Text())
			broken = true
			continue
		}
		key := e.Package + "/" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Print(e.Output)
		case "build-fail":
			broken = true
		case "output":
			if e.Test == "" {
				// Package-level lines: keep go test's own summary lines.
				line := strings.TrimRight(e.Output, "\n")
				if strings.HasPrefix(line, "ok  ") || strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "?   ") || strings.HasPrefix(line, "panic:") {
					fmt.Println(line)
				}
				continue
			}
			output[key] = append(output[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			}
			delete(output, key)
		case "skip":
			if e.Test != "" {
				skipped++
				fmt.Printf("SKIP %s %s: %s\n", e.Package, e.Test, skipReason(output[key]))
			}
			delete(output, key)
		case "fail":
			if e.Test != "" {
				failed++
				fmt.Printf("--- FAIL %s %s (%.1fs)\n%s", e.Package, e.Test, e.Elapsed, strings.Join(output[key], ""))
			}
			delete(output, key)
		}
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || broken {
		os.Exit(1)
	}
}

// skipReason is the message t.Skip printed: the indented "file.go:N: reason" lines.
func skipReason(lines []string) string {
	var reason []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		reason = append(reason, t)
	}
	if len(reason) == 0 {
		return "(no reason given)"
	}
	return strings.Join(reason, " | ")
}
