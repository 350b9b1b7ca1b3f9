package playground_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

func TestMain(m *testing.M) {
	native.Stage()
	code := m.Run()
	servicetest.Close()
	os.Exit(code)
}

// The page and its assets come from the binary, with headers that let
// them load nothing from elsewhere; the API's own paths are untouched.
func TestAssets(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{})
	for path, want := range map[string]string{
		"/":                         "text/html",
		"/playground/app.js":        "text/javascript",
		"/playground/highlight.js":  "text/javascript",
		"/playground/snippets.js":   "text/javascript",
		"/playground/style.css":     "text/css",
		"/playground/no-such-thing": "text/plain",
	} {
		req, _ := http.NewRequest("GET", env.URL+path, nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8") // a browser's
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantCode := http.StatusOK
		if strings.Contains(path, "no-such") {
			wantCode = http.StatusNotFound
		}
		if resp.StatusCode != wantCode || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: %d %s, want %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), wantCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if wantCode == http.StatusOK && (strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://")) {
			t.Errorf("%s refers to another site: it must work offline", path)
		}
	}
	resp, err := http.Get(env.URL + "/v1/no-such-thing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("an unknown API path: %d %s, want the API's JSON 404", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// chromium is Debian's browser, which scripts/test.sh installs.
const chromium = "/usr/bin/chromium"

// TestBrowser drives the page in a real browser: a Python program with
// stdin run from the button, another with Ctrl+Enter after a Tab, a C
// compile error, and a function-mode calculation. It leaves a screenshot
// of the last one in .cache/artifacts/playground.png.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs %s (scripts/test.sh installs the chromium package): %v", chromium, err)
	}
	env := servicetest.Start(t, servicetest.Options{})
	ctx := newBrowser(t)

	do(t, ctx, "load the page", chromedp.Navigate(env.URL+"/"), chromedp.WaitEnabled(chromedp.ID("run")))
	if language := read(t, ctx, chromedp.Value(chromedp.ID("language"))); language != "python" {
		t.Fatalf("the page starts with language %q, want python", language)
	}

	// The Python starter reads its name from stdin.
	do(t, ctx, "run Python from the button",
		chromedp.SetValue(chromedp.ID("stdin"), "airlock"),
		chromedp.Click(chromedp.ID("run")),
		waitStatus("ok"),
	)
	if stdout := read(t, ctx, chromedp.Text(chromedp.ID("stdout"))); !strings.Contains(stdout, "Hello, airlock!") {
		t.Fatalf("Python stdout = %q", stdout)
	}

	// Tab indents in the editor rather than leaving it; Ctrl+Enter runs.
	do(t, ctx, "Tab and Ctrl+Enter",
		chromedp.SetValue(chromedp.ID("code"), "if True:\n"),
		chromedp.Focus(chromedp.ID("code")),
		evaluate(`document.getElementById("code").setSelectionRange(9, 9)`),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("print(6 * 7)"),
	)
	code := read(t, ctx, chromedp.Value(chromedp.ID("code")))
	do(t, ctx, "Ctrl+Enter", chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)), waitStatus("ok"))
	if stdout := read(t, ctx, chromedp.Text(chromedp.ID("stdout"))); code != "if True:\n    print(6 * 7)" || strings.TrimSpace(stdout) != "42" {
		t.Fatalf("after Tab and Ctrl+Enter: code %q, stdout %q", code, stdout)
	}

	// Long output scrolls inside its pane; the page keeps its layout.
	do(t, ctx, "long output",
		chromedp.SetValue(chromedp.ID("code"), "for i in range(2000):\n    print('line', i)\n"),
		chromedp.Click(chromedp.ID("run")),
		waitStatus("ok"),
	)
	scrolls := read(t, ctx, chromedp.Evaluate[bool](`(() => { const p = document.getElementById("stdout");
		return p.scrollHeight > p.clientHeight && p.clientHeight < window.innerHeight &&
			document.documentElement.scrollHeight <= window.innerHeight + 1; })()`))
	if stdout := read(t, ctx, chromedp.Text(chromedp.ID("stdout"))); !scrolls || !strings.Contains(stdout, "line 1999") {
		t.Errorf("2000 lines of output: pane scrolls %v, last line there %v", scrolls, strings.Contains(stdout, "line 1999"))
	}

	do(t, ctx, "a C compile error",
		chromedp.SetValue(chromedp.ID("language"), "c"),
		evaluate(`document.getElementById("language").dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.ID("code"), "int main(void) { return undeclared; }\n"),
		chromedp.Click(chromedp.ID("run")),
		waitStatus("compile error"),
	)
	compiled := read(t, ctx, chromedp.Text(chromedp.ID("compile")))
	hidden := read(t, ctx, chromedp.Evaluate[bool](`document.getElementById("compile-pane").hidden`))
	if hidden || !strings.Contains(compiled, "error") || !strings.Contains(compiled, "undeclared") {
		t.Fatalf("compile output (hidden %v): %q", hidden, compiled)
	}
	if offered := read(t, ctx, chromedp.Evaluate[bool](`!document.getElementById("requirements-box").hidden`)); offered {
		t.Errorf("requirements offered for C, which takes none")
	}

	// An empty editor takes the starter of the language and mode.
	do(t, ctx, "function mode",
		chromedp.SetValue(chromedp.ID("language"), "python"),
		evaluate(`document.getElementById("code").value = ""`),
		evaluate(`document.getElementById("language").dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.ID("mode"), "function"),
		evaluate(`document.getElementById("mode").dispatchEvent(new Event("change"))`),
		chromedp.Click(chromedp.ID("run")),
		waitStatus("ok"),
	)
	if output := read(t, ctx, chromedp.Text(chromedp.ID("output"))); !strings.Contains(output, `"deflection_mm"`) || !strings.Contains(output, `"ok": true`) {
		t.Fatalf("function output = %q", output)
	}
	if usage := read(t, ctx, chromedp.Text(chromedp.ID("usage"))); !strings.Contains(usage, "CPU") || !strings.Contains(usage, "wall") || !strings.Contains(usage, "memory") {
		t.Errorf("usage = %q", usage)
	}
	shot := read(t, ctx, chromedp.FullScreenshot(100))
	path := filepath.Join(artifacts(t), "playground.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// Errors are shown, not swallowed: inputs that are not JSON never
	// leave the page.
	do(t, ctx, "bad inputs",
		chromedp.SetValue(chromedp.ID("inputs"), "{not json"),
		chromedp.Click(chromedp.ID("run")),
		waitStatus("not sent"),
	)
	if shown := read(t, ctx, chromedp.Text(chromedp.ID("error"))); !strings.Contains(shown, "inputs are not JSON") {
		t.Errorf("error shown for bad inputs: %q", shown)
	}

	// Requirements go out as the text area's text; a job whose
	// requirements could not be installed shows the installer's output.
	// The server's answer is made up here, as this server builds no
	// environments.
	do(t, ctx, "requirements and a dependency error",
		chromedp.SetValue(chromedp.ID("inputs"), "{}"),
		evaluate(`window.sent = [];
			window.fetch = async (path, init) => {
				window.sent.push(JSON.parse(init.body));
				return new Response(JSON.stringify({id: "j", status: "dependency_error", exit_code: 0, signal: "", stdout: "", stderr: "",
					message: "dependencies: no version of nosuch", usage: {cpu_ms: 0, wall_ms: 0, memory_kb: 0}, language: "python",
					dependencies: {status: "runtime_error", exit_code: 1, stdout: "Looking in indexes\n", stderr: "ERROR: No matching distribution found for nosuch\n"}}),
					{status: 200, headers: {"Content-Type": "application/json"}});
			}`),
		chromedp.WaitVisible(chromedp.ID("requirements")),
		chromedp.SetValue(chromedp.ID("requirements"), "# for the test\nnosuch==1.0\n"),
		chromedp.Click(chromedp.ID("run")),
		waitStatus("dependency error"),
	)
	sent := read(t, ctx, chromedp.Evaluate[string](`JSON.stringify(window.sent.map((b) => b.requirements))`))
	installer := read(t, ctx, chromedp.Text(chromedp.ID("dependencies")))
	message := read(t, ctx, chromedp.Text(chromedp.ID("message")))
	if usage := read(t, ctx, chromedp.Text(chromedp.ID("usage"))); usage != "" {
		t.Errorf("usage %q shown for a job that never ran", usage)
	}
	if sent != `["# for the test\nnosuch==1.0\n"]` || !strings.Contains(installer, "No matching distribution found for nosuch") ||
		!strings.Contains(installer, "Looking in indexes") || message != "dependencies: no version of nosuch" {
		t.Errorf("sent requirements %s; installer output %q; message %q", sent, installer, message)
	}
	shot = read(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(artifacts(t), "playground-dependency-error.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A server with keys: the page asks for one, and works once it has it.
func TestBrowserWithKey(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs %s (scripts/test.sh installs the chromium package): %v", chromium, err)
	}
	const token = "playground-test-token"
	env := servicetest.Start(t, servicetest.Options{API: api.Options{Keys: []auth.Key{{ID: "web", SHA256: auth.HashToken(token)}}}})
	ctx := newBrowser(t)
	do(t, ctx, "load the page", chromedp.Navigate(env.URL+"/"), chromedp.WaitVisible(chromedp.ID("key")))
	if shown := read(t, ctx, chromedp.Text(chromedp.ID("error"))); !strings.Contains(shown, "needs an API key") {
		t.Errorf("without a key the page says %q", shown)
	}
	do(t, ctx, "enter the key and run",
		chromedp.SendKeys(chromedp.ID("key"), token),
		evaluate(`document.getElementById("key").dispatchEvent(new Event("change"))`),
		chromedp.WaitEnabled(chromedp.ID("run")),
		chromedp.Click(chromedp.ID("run")),
		waitStatus("ok"),
	)
	if stdout := read(t, ctx, chromedp.Text(chromedp.ID("stdout"))); !strings.Contains(stdout, "Hello, world!") {
		t.Fatalf("stdout with the key = %q", stdout)
	}
}

// newBrowser starts Chromium for t, headless, and fails t if the page
// throws an exception that nothing catches.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the test runs as root, where Chromium's own sandbox refuses to start
		chromedp.WindowSize(1400, 860),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	var mu sync.Mutex
	var thrown []string
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf), chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*cdpruntime.EventExceptionThrown); ok {
			mu.Lock()
			thrown = append(thrown, e.ExceptionDetails.Text)
			mu.Unlock()
		}
	}))
	do(t, ctx, "start the browser") // the first call starts it, with no deadline of its own
	t.Cleanup(func() {
		cancelBrowser()
		mu.Lock()
		defer mu.Unlock()
		if len(thrown) > 0 {
			t.Errorf("the page threw: %v", thrown)
		}
	})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// do runs steps, failing t with what the page shows if one fails.
func do(t *testing.T, ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v%s", step, err, pageState(ctx))
	}
}

// read runs an action that reads the page.
func read[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("read the page: %v%s", err, pageState(ctx))
	}
	return v
}

// pageState is the status and the error the page shows, to explain a
// failure.
func pageState(ctx context.Context) string {
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent + " | " + document.getElementById("error").textContent`))
	return " (page: " + status + ")"
}

// evaluate runs a script for its effect, whatever it returns.
func evaluate(expression string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Evaluate[any](expression))
}

// waitStatus waits until the status badge says want.
func waitStatus(want string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("status").textContent === %q`, want),
		chromedp.WithPollingTimeout(45*time.Second)))
}

// void is a without its value.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// artifacts is where tests leave files for people to look at: the
// repository's .cache/artifacts.
func artifacts(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), ".cache", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
