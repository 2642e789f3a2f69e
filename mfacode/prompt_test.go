package mfacode

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDesktop puts stand-in desktop programs on PATH. Each records its
// arguments, one per line, into NAME.args in the same directory.
type fakeDesktop struct {
	t   *testing.T
	dir string
}

func newFakeDesktop(t *testing.T) *fakeDesktop {
	t.Helper()
	needUnix(t)
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	return &fakeDesktop{t: t, dir: dir}
}

// add installs a program that records its arguments and then runs body.
func (f *fakeDesktop) add(name, body string) {
	f.t.Helper()
	writeScript(f.t, f.dir, name, `for a in "$@"; do printf '%s\n' "$a"; done >> `+f.args(name)+"\n"+body)
}

func (f *fakeDesktop) args(name string) string { return filepath.Join(f.dir, name+".args") }

func (f *fakeDesktop) recorded(name string) string { return readFile(f.t, f.args(name)) }

func workRequest() Request {
	return Request{
		Profile:   "work",
		MFASerial: "arn:aws:iam::111122223333:mfa/alice",
		Reason:    "MFA window of profile work closes at 15:04",
	}
}

func TestPromptNotifiesAndNeedsHuman(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("notify-send", "exit 0")
	p := NewPrompt(PromptOptions{Notifier: &DesktopNotifier{GOOS: "linux"}})
	code, err := p.Code(t.Context(), workRequest())
	if !errors.Is(err, ErrNeedsHuman) || code != "" {
		t.Fatalf("Code = %q, %v; want ErrNeedsHuman", code, err)
	}
	args := fd.recorded("notify-send")
	for _, want := range []string{"--app-name=mfad", "mfad\n", "Profile work needs a new MFA code", "run `mfad unlock work`", "closes at 15:04"} {
		if !strings.Contains(args, want) {
			t.Errorf("notify-send arguments lack %q:\n%s", want, args)
		}
	}
	if p.Name() != "prompt" {
		t.Errorf("Name() = %q", p.Name())
	}
}

func TestPromptDialog(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("notify-send", "exit 0")
	fd.add("zenity", `printf ' 482 913\n'`)
	dialog, err := NewDesktopDialog("zenity", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPrompt(PromptOptions{Notifier: NewDesktopNotifier(nil), Dialog: dialog})
	code, err := p.Code(t.Context(), workRequest())
	if err != nil {
		t.Fatal(err)
	}
	if code != "482913" {
		t.Fatalf("code = %q, want 482913", code)
	}
	zargs := fd.recorded("zenity")
	for _, want := range []string{"--entry\n", "--hide-text\n", "--title=mfad\n", "--text=MFA code for profile work"} {
		if !strings.Contains(zargs, want) {
			t.Errorf("zenity arguments lack %q:\n%s", want, zargs)
		}
	}
	nargs := fd.recorded("notify-send")
	if !strings.Contains(nargs, "work") || !strings.Contains(nargs, "enter it in the dialog") {
		t.Errorf("notification does not name the profile and the dialog:\n%s", nargs)
	}
	for _, args := range []string{zargs, nargs} {
		if strings.Contains(args, "482913") || strings.Contains(args, "482 913") {
			t.Errorf("the code appears in arguments:\n%s", args)
		}
	}
}

func TestPromptDialogCancel(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("zenity", `exit 1`)
	p := NewPrompt(PromptOptions{Dialog: &DesktopDialog{Program: "auto", GOOS: "linux"}})
	_, err := p.Code(t.Context(), workRequest())
	if !errors.Is(err, ErrDialogCancelled) || !errors.Is(err, ErrNeedsHuman) {
		t.Fatalf("error %v does not wrap ErrDialogCancelled and ErrNeedsHuman", err)
	}
	if !strings.Contains(err.Error(), "dialog cancelled") || !strings.Contains(err.Error(), "mfad unlock") {
		t.Errorf("error %q is not clear", err)
	}
}

func TestPromptDialogBadAnswer(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("kdialog", `echo 12345x`)
	p := NewPrompt(PromptOptions{Dialog: &DesktopDialog{GOOS: "linux"}})
	_, err := p.Code(t.Context(), workRequest())
	if !errors.Is(err, ErrNeedsHuman) || !strings.Contains(err.Error(), "not 6 digits") {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(err.Error(), "12345") {
		t.Errorf("error %q echoes the answer", err)
	}
	if args := fd.recorded("kdialog"); !strings.Contains(args, "--password\nMFA code for profile work") {
		t.Errorf("auto did not fall back to kdialog --password:\n%s", args)
	}
}

func TestPromptDialogTimeout(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("zenity", `exec /bin/sleep 30`)
	p := NewPrompt(PromptOptions{Dialog: &DesktopDialog{Program: "zenity"}, DialogTimeout: 100 * time.Millisecond})
	_, err := p.Code(t.Context(), workRequest())
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNeedsHuman) {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "nobody answered") {
		t.Errorf("error %q is not clear", err)
	}
}

func TestDialogFailureAndMissing(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("zenity", `echo 'cannot open display; code 123456' >&2; exit 255`)
	_, err := (&DesktopDialog{Program: "zenity"}).Ask(t.Context(), "mfad", "MFA code")
	if err == nil || errors.Is(err, ErrDialogCancelled) || !strings.Contains(err.Error(), "cannot open display") {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(err.Error(), "123456") {
		t.Errorf("error %q shows a 6-digit run", err)
	}
	_, err = (&DesktopDialog{Program: "kdialog"}).Ask(t.Context(), "mfad", "MFA code")
	if err == nil || !strings.Contains(err.Error(), "no dialog program found (looked for kdialog") {
		t.Fatalf("error = %v", err)
	}
	if _, err := NewDesktopDialog("gtkdialog", nil); err == nil || !strings.Contains(err.Error(), "zenity") {
		t.Fatalf("error = %v", err)
	}
}

func TestOSAScriptQuoting(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("osascript", `echo 112233`)
	n := &DesktopNotifier{GOOS: "darwin"}
	if err := n.Notify(t.Context(), "mfad", `profile "we\ird" needs a code`); err != nil {
		t.Fatal(err)
	}
	want := `display notification "profile \"we\\ird\" needs a code" with title "mfad"`
	if got := fd.recorded("osascript"); got != "-e\n"+want+"\n" {
		t.Errorf("osascript arguments:\n%s\nwant -e %s", got, want)
	}

	code, err := (&DesktopDialog{GOOS: "darwin"}).Ask(t.Context(), "mfad", "MFA code for \"x\"\nwhy")
	if err != nil || code != "112233" {
		t.Fatalf("Ask = %q, %v", code, err)
	}
	wantDialog := `text returned of (display dialog "MFA code for \"x\"\nwhy" with title "mfad" default answer "" with hidden answer)`
	if got := fd.recorded("osascript"); !strings.HasSuffix(got, "-e\n"+wantDialog+"\n") {
		t.Errorf("osascript dialog arguments:\n%s\nwant -e %s", got, wantDialog)
	}
}

func TestNotifierMissingOrFailing(t *testing.T) {
	fd := newFakeDesktop(t)
	if err := NewDesktopNotifier(nil).Notify(t.Context(), "mfad", "body"); err != nil {
		t.Errorf("missing notify-send: %v, want nil", err)
	}
	if err := (&DesktopNotifier{GOOS: "windows"}).Notify(t.Context(), "mfad", "body"); err != nil {
		t.Errorf("windows: %v, want nil", err)
	}
	fd.add("notify-send", `echo 'no session bus' >&2; exit 1`)
	err := (&DesktopNotifier{GOOS: "freebsd"}).Notify(t.Context(), "mfad", "body")
	if err == nil || !strings.Contains(err.Error(), "no session bus") {
		t.Errorf("error = %v", err)
	}
	// A failing notification does not stop the prompt.
	_, err = NewPrompt(PromptOptions{Notifier: &DesktopNotifier{GOOS: "linux"}}).Code(t.Context(), workRequest())
	if !errors.Is(err, ErrNeedsHuman) {
		t.Errorf("error = %v, want ErrNeedsHuman", err)
	}
}

func TestZenityMarkupEscaped(t *testing.T) {
	fd := newFakeDesktop(t)
	fd.add("zenity", `echo 123456`)
	if _, err := (&DesktopDialog{Program: "zenity"}).Ask(t.Context(), "mfad", "R&D <prod>"); err != nil {
		t.Fatal(err)
	}
	if got := fd.recorded("zenity"); !strings.Contains(got, "--text=R&amp;D &lt;prod&gt;\n") {
		t.Errorf("zenity arguments:\n%s", got)
	}
}
