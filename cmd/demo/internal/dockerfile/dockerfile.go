// Package dockerfile reads enough of a Dockerfile for the tests that hold
// the image to the Makefile and to the compose file: stages, and
// instructions with comments skipped and continuation lines joined. (It was
// a package so that a test in another module could read the Dockerfile too;
// that test is gone, replaced by a real build in `make compose-test`.)
package dockerfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Instruction is one Dockerfile instruction, continuation lines joined.
type Instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string // whitespace runs collapsed to one space
	Line int    // where it starts
}

// Stage is one FROM and what follows it.
type Stage struct {
	From, Name string // FROM From [AS Name]
	Body       []Instruction
}

// ReadFile parses the Dockerfile at path.
func ReadFile(path string) ([]Stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stages, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return stages, nil
}

// Parse splits a Dockerfile into stages.
func Parse(r io.Reader) ([]Stage, error) {
	var (
		stages  []Stage
		pending strings.Builder
		start   int
	)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if pending.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			pending.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		pending.WriteString(line)
		cmd, args, _ := strings.Cut(pending.String(), " ")
		pending.Reset()
		in := Instruction{Cmd: strings.ToUpper(cmd), Args: strings.Join(strings.Fields(args), " "), Line: start}
		if in.Cmd == "FROM" {
			fields := strings.Fields(in.Args)
			if len(fields) == 0 {
				return nil, fmt.Errorf("line %d: FROM without an image", start)
			}
			s := Stage{From: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.Name = fields[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			return nil, fmt.Errorf("line %d: %s before any FROM", start, in.Cmd)
		}
		stages[len(stages)-1].Body = append(stages[len(stages)-1].Body, in)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return stages, nil
}
