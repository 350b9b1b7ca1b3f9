package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// unknownPath is where the unknown field name sits in data, which was
// decoded into a value of type t: "limits.colour", "files[1].mode". The
// decoder's error gives the name alone.
func unknownPath(data []byte, t reflect.Type, name string) string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return name
	}
	if path, ok := findUnknown(v, t, name, ""); ok {
		return path
	}
	return name
}

func findUnknown(v any, t reflect.Type, name, at string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return "", false
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			path := k
			if at != "" {
				path = at + "." + k
			}
			ft, known := fields[strings.ToLower(k)]
			if !known && k == name {
				return path, true
			}
			if known {
				if p, ok := findUnknown(v[k], ft, name, path); ok {
					return p, true
				}
			}
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return "", false
		}
		for i, e := range v {
			if p, ok := findUnknown(e, t.Elem(), name, fmt.Sprintf("%s[%d]", at, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// jsonFields maps the JSON names of a struct's fields, those of embedded
// structs included, to their types; lower-cased, since encoding/json
// matches names without regard to case.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			maps.Copy(fields, jsonFields(f.Type))
		case f.IsExported():
			fields[strings.ToLower(cmp.Or(name, f.Name))] = f.Type
		}
	}
	return fields
}
