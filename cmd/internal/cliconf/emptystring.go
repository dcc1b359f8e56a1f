package cliconf

import "flag"

// EmptyStringVar is flag.StringVar for a setting whose empty value means
// something of its own, such as a listen address where "" turns the
// listener off: an environment variable set to "" sets it to "", as an
// empty flag or config value does, instead of counting as unset. Other
// flags keep "empty is unset", so that an empty variable never turns an
// issuer, a database or a cost into "" by accident.
func EmptyStringVar(fs *flag.FlagSet, p *string, name, value, usage string) {
	*p = value
	fs.Var((*emptyStringValue)(p), name, usage)
}

type emptyStringValue string

func (s *emptyStringValue) Set(v string) error { *s = emptyStringValue(v); return nil }
func (s *emptyStringValue) String() string     { return string(*s) }
