package bench_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
)

// knobs is a benchmark's settings struct, as benchmarks declare theirs.
type knobs struct {
	Count int            `yaml:"count"`
	Wait  bench.Duration `yaml:"wait"`
}

func (k knobs) Validate() error {
	if k.Count < 1 {
		return os.ErrInvalid
	}
	return nil
}

type knobbed struct{}

func (knobbed) DefaultSettings(quick bool) any {
	if quick {
		return &knobs{Count: 1, Wait: bench.Duration(time.Second)}
	}
	return &knobs{Count: 10, Wait: bench.Duration(time.Minute)}
}

func TestReadSettingsMergesOverTheDefaultsOfTheRun(t *testing.T) {
	got, err := bench.ReadSettings[knobs](&bench.Trial{Quick: true, Settings: bench.Settings{"wait": "5s"}}, knobbed{})
	if err != nil || got.Count != 1 || got.Wait.D() != 5*time.Second {
		t.Fatalf("quick with wait 5s: %+v, %v", got, err)
	}
	got, err = bench.ReadSettings[knobs](&bench.Trial{}, knobbed{})
	if err != nil || got.Count != 10 || got.Wait.D() != time.Minute {
		t.Fatalf("full defaults: %+v, %v", got, err)
	}
}

func TestReadSettingsRefusesWhatTheStructRefuses(t *testing.T) {
	_, err := bench.ReadSettings[knobs](&bench.Trial{Settings: bench.Settings{"cuont": 3}}, knobbed{})
	if err == nil || !strings.Contains(err.Error(), `"cuont"`) || !strings.Contains(err.Error(), "count, wait") {
		t.Errorf("a typo: %v; want the key and the allowed ones named", err)
	}
	if _, err := bench.ReadSettings[knobs](&bench.Trial{Settings: bench.Settings{"count": 0}}, knobbed{}); err == nil {
		t.Error("Validate was not asked")
	}
	// A benchmark whose defaults are of another type is a programming error, said as such.
	if _, err := bench.ReadSettings[bench.Settings](&bench.Trial{}, knobbed{}); err == nil {
		t.Error("defaults of the wrong type were taken")
	}
}

func TestKeepRawWritesIntoTheRawDirectoryOrSaysWhy(t *testing.T) {
	tr := &bench.Trial{RawDir: t.TempDir()}
	if err := tr.KeepRaw("out.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(tr.RawDir, "out.json")); err != nil || string(b) != "{}" {
		t.Fatalf("kept %q, %v", b, err)
	}
	tr.RawDir = filepath.Join(tr.RawDir, "gone")
	if err := tr.KeepRaw("out.json", nil); err == nil || !strings.Contains(err.Error(), "out.json") {
		t.Fatalf("a raw directory that is gone: %v; want an error naming the file", err)
	}
}

func TestSetInfoWithoutInfoIsNoOp(t *testing.T) {
	(&bench.Trial{}).SetInfo(bench.InfoStack, "netstack")
	tr := &bench.Trial{Info: map[string]string{}}
	tr.SetInfo(bench.InfoStack, "netstack")
	if tr.Info[bench.InfoStack] != "netstack" {
		t.Fatalf("info %v", tr.Info)
	}
}

func TestNewBindDirIsReadableByEveryone(t *testing.T) {
	dir, err := bench.NewBindDir("test")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o755 || !strings.HasPrefix(filepath.Base(dir), "isobench-test-") {
		t.Fatalf("%s: %v, %v", dir, fi.Mode(), err)
	}
}

func TestHostToolNamesThePackage(t *testing.T) {
	if _, err := bench.HostTool("sh", "dash"); err != nil {
		t.Fatalf("sh: %v", err)
	}
	_, err := bench.HostTool("isobench-no-such-tool", "no-such-package")
	if err == nil || !strings.Contains(err.Error(), "apt-get install no-such-package") {
		t.Fatalf("a missing tool: %v", err)
	}
}
