package python_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
)

// run runs a command in dir with env added to the environment (less any
// ONNXLOSS_BINARY, so that the installed binary is the one tested) and
// returns its combined output; the test fails with it on error.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "ONNXLOSS_BINARY=")
	})
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// tree lists every file and folder under dir with its size.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, rel+" "+info.Mode().String()+" "+strconv.FormatInt(info.Size(), 10))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pinned returns the requirement lines of scripts/requirements/NAME.txt
// whose package is one of names.
func pinned(t *testing.T, root, name string, names ...string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "scripts", "requirements", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		pkg, _, ok := strings.Cut(line, "==")
		if ok && slices.Contains(names, pkg) {
			out = append(out, line)
		}
	}
	if len(out) != len(names) {
		t.Fatalf("scripts/requirements/%s.txt pins %v, want all of %v", name, out, names)
	}
	return out
}

// TestPackage builds the wheel, installs it and runs python/tests.
func TestPackage(t *testing.T) {
	root := testutil.Root(t)
	src := filepath.Join(root, "python")
	before := tree(t, src)
	py := testutil.Venv(t, "pypkg")
	tmp := t.TempDir()

	// The wheel: platform-tagged, with the binary.
	wheels := filepath.Join(tmp, "wheels")
	run(t, root, nil, py, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
		"--no-deps", "-w", wheels, "./python")
	found, _ := filepath.Glob(filepath.Join(wheels, "*.whl"))
	if len(found) != 1 {
		t.Fatalf("pip wheel wrote %v, want one wheel", found)
	}
	wheel := found[0]
	if !regexp.MustCompile(`^onnxloss-[0-9.]+-py3-none-[a-z0-9_]+\.whl$`).MatchString(filepath.Base(wheel)) ||
		strings.HasSuffix(wheel, "-any.whl") {
		t.Errorf("wheel %s: want a platform tag (py3-none-PLATFORM)", filepath.Base(wheel))
	}
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		t.Fatal(err)
	}
	var hasBinary bool
	for _, f := range zr.File {
		if f.Name == "onnxloss/bin/onnxloss" || f.Name == "onnxloss/bin/onnxloss.exe" {
			hasBinary = f.Mode()&0o111 != 0 && f.UncompressedSize64 > 1<<20
		}
	}
	zr.Close()
	if !hasBinary {
		t.Errorf("wheel %s has no executable onnxloss/bin/onnxloss", filepath.Base(wheel))
	}
	if after := tree(t, src); !slices.Equal(before, after) {
		t.Errorf("building the wheel changed python/:\nbefore %v\nafter  %v", before, after)
	}

	tests := filepath.Join(src, "tests")
	pytest := []string{"-m", "pytest", "-p", "no:cacheprovider", "-q", tests}
	t.Run("pypkg", func(t *testing.T) {
		site := filepath.Join(tmp, "site-pypkg")
		run(t, tmp, nil, py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
			"--no-deps", "--no-index", "--target", site, wheel)
		out := run(t, tmp, []string{"PYTHONPATH=" + site, "PYTHONDONTWRITEBYTECODE=1",
			"ONNXLOSS_EXPECT_ORT_TRAINING=0"}, py, pytest...)
		t.Log(lastLine(out))
	})
	t.Run("ort-training", func(t *testing.T) {
		ort := testutil.Venv(t, "ort-training")
		site := filepath.Join(tmp, "site-ort")
		args := []string{"-m", "pip", "install", "-q", "--disable-pip-version-check",
			"--no-deps", "--target", site, wheel}
		args = append(args, pinned(t, root, "pypkg", "pytest", "iniconfig", "pluggy", "Pygments")...)
		run(t, tmp, nil, ort, args...)
		out := run(t, tmp, []string{"PYTHONPATH=" + site, "PYTHONDONTWRITEBYTECODE=1",
			"ONNXLOSS_EXPECT_ORT_TRAINING=1"}, ort, pytest...)
		t.Log(lastLine(out))
	})
	if after := tree(t, src); !slices.Equal(before, after) {
		t.Errorf("the tests changed python/:\nbefore %v\nafter  %v", before, after)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
