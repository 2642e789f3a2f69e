package session_test

import "fmt"

func fmtV(v any) string   { return fmt.Sprintf("%v %+v", v, v) }
func fmtGoV(v any) string { return fmt.Sprintf("%#v", v) }
