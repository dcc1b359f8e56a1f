package cliconf

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// DurationVar is flag.DurationVar with a message that says what is wrong:
// "15" gets "15: a duration needs a unit, such as 15m" where the flag
// package only says "parse error".
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil && s != "0" {
			return fmt.Errorf("%s: a duration needs a unit, such as %sm", s, s)
		}
		return fmt.Errorf("%q: not a duration; write e.g. 90s, 15m or 1h30m", s)
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return time.Duration(*d).String() }
