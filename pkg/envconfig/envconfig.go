// Package envconfig loads a program's settings from environment variables with github.com/caarlos0/env,
// checks them against the limits written in their struct tags, and prints them as help.
//
// Fields use the tags `env` (variable name), `envDefault`, `help` (one line), and optionally `oneof:"a|b"`,
// `min`, `max` (numbers and durations). Every invalid value is reported as an *Error that names the variable,
// the value and what is allowed.
package envconfig

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caarlos0/env/v10"
)

// Error is one invalid setting.
type Error struct {
	Var     string // variable name
	Value   string // the value given
	Allowed string // what would have been accepted
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s=%q: want %s", e.Var, e.Value, e.Allowed)
}

// Errors is every invalid setting found in one Load.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// Environ returns the process environment as a map.
func Environ() map[string]string {
	m := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Load fills cfg (a pointer to a flat struct) from environ and validates it. The error, if any, is Errors.
func Load(cfg any, environ map[string]string) error {
	perr := env.ParseWithOptions(cfg, env.Options{Environment: environ})
	var errs Errors
	fields := fieldsOf(cfg)
	if perr != nil {
		var agg env.AggregateError
		if !errors.As(perr, &agg) {
			return perr
		}
		for _, e := range agg.Errors {
			var pe env.ParseError
			if !errors.As(e, &pe) {
				return perr
			}
			f, ok := fields.byName(pe.Name)
			if !ok {
				return perr
			}
			errs = append(errs, &Error{Var: f.envName, Value: environ[f.envName], Allowed: f.allowed()})
		}
	}
	rv := reflect.ValueOf(cfg).Elem()
	for _, f := range fields {
		if errs.has(f.envName) {
			continue
		}
		if e := f.check(rv.FieldByName(f.name)); e != nil {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Invalid builds the Error for a value that a program's own validation refused.
func Invalid(variable, value, allowed string) *Error {
	return &Error{Var: variable, Value: value, Allowed: allowed}
}

// Usage writes every variable of cfg with its default, what it allows and its meaning.
func Usage(w io.Writer, program, summary string, cfg any) {
	fmt.Fprintf(w, "%s: %s\n\nAll settings come from environment variables:\n\n", program, summary)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tALLOWED\tMEANING")
	for _, f := range fieldsOf(cfg) {
		def := f.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.envName, def, f.allowed(), f.help)
	}
	tw.Flush()
}

func (es Errors) has(name string) bool {
	for _, e := range es {
		if e.Var == name {
			return true
		}
	}
	return false
}

type field struct {
	name, envName, def, help string
	oneof                    []string
	min, max                 string
	typ                      reflect.Type
}

type fieldList []field

func (fl fieldList) byName(n string) (field, bool) {
	for _, f := range fl {
		if f.name == n {
			return f, true
		}
	}
	return field{}, false
}

func fieldsOf(cfg any) fieldList {
	t := reflect.TypeOf(cfg)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var fl fieldList
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		f := field{name: sf.Name, envName: name, def: sf.Tag.Get("envDefault"), help: sf.Tag.Get("help"),
			min: sf.Tag.Get("min"), max: sf.Tag.Get("max"), typ: sf.Type}
		if o := sf.Tag.Get("oneof"); o != "" {
			f.oneof = strings.Split(o, "|")
		}
		fl = append(fl, f)
	}
	return fl
}

var durationType = reflect.TypeOf(time.Duration(0))

// allowed describes the accepted values of f.
func (f field) allowed() string {
	if len(f.oneof) > 0 {
		return "one of " + strings.Join(f.oneof, ", ")
	}
	var kind string
	switch {
	case f.typ == durationType:
		kind = "a duration (e.g. 500ms, 5s)"
	case f.typ.Kind() == reflect.Bool:
		return "true or false"
	case f.typ.Kind() >= reflect.Int && f.typ.Kind() <= reflect.Uint64:
		kind = "an integer"
	case f.typ.Kind() == reflect.Float32 || f.typ.Kind() == reflect.Float64:
		kind = "a number"
	default:
		kind = "text"
	}
	switch {
	case f.min != "" && f.max != "":
		return fmt.Sprintf("%s from %s to %s", kind, f.min, f.max)
	case f.min != "":
		return fmt.Sprintf("%s >= %s", kind, f.min)
	case f.max != "":
		return fmt.Sprintf("%s <= %s", kind, f.max)
	}
	return kind
}

// check validates the parsed value v of f against its oneof/min/max tags.
func (f field) check(v reflect.Value) *Error {
	bad := func() *Error { return &Error{Var: f.envName, Value: fmt.Sprint(v.Interface()), Allowed: f.allowed()} }
	if len(f.oneof) > 0 {
		s := fmt.Sprint(v.Interface())
		for _, o := range f.oneof {
			if strings.EqualFold(s, o) {
				return nil
			}
		}
		return bad()
	}
	if f.min == "" && f.max == "" {
		return nil
	}
	val, lo, hi, ok := f.bounds(v)
	if !ok {
		panic(fmt.Sprintf("envconfig: bad min/max tag on %s", f.name))
	}
	if math.IsNaN(val) || val < lo || val > hi {
		e := bad()
		if f.typ == durationType {
			e.Value = time.Duration(v.Int()).String()
		}
		return e
	}
	return nil
}

func (f field) bounds(v reflect.Value) (val, lo, hi float64, ok bool) {
	parse := func(s string, inf float64) (float64, bool) {
		if s == "" {
			return inf, true
		}
		if f.typ == durationType {
			d, err := time.ParseDuration(s)
			return float64(d), err == nil
		}
		x, err := strconv.ParseFloat(s, 64)
		return x, err == nil
	}
	lo, ok1 := parse(f.min, -1e308)
	hi, ok2 := parse(f.max, 1e308)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		val = float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		val = float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		val = v.Float()
	default:
		return 0, 0, 0, false
	}
	return val, lo, hi, ok1 && ok2
}
