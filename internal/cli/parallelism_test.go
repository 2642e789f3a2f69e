package cli

import (
	"runtime"
	"testing"
)

func TestParallelismLeavesAGivenGOMAXPROCSAlone(t *testing.T) {
	env := map[string]string{"GOMAXPROCS": "2"}
	app := &App{Getenv: func(k string) string { return env[k] }}
	if parallelism(app) != nil {
		t.Fatal("the daemon would change a GOMAXPROCS set in its environment")
	}
	delete(env, "GOMAXPROCS")
	if got := parallelism(app); (got != nil) != (runtime.GOMAXPROCS(0) > 1) {
		t.Fatalf("parallelism set = %v with GOMAXPROCS %d, want it set on more than one P", got != nil, runtime.GOMAXPROCS(0))
	}
}
