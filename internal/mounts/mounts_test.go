package mounts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tree whose mounts cannot be read is not removed: something may still be mounted in it.
func TestUnmountAllKeepsATreeItCouldNotCheck(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "rootfs", "etc", "passwd")
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(f func(string) ([]string, error)) { under = f }(under)
	under = func(string) ([]string, error) { return nil, errors.New("injected: mount table unreadable") }
	err := UnmountAll(dir)
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("UnmountAll = %v; want the mount table error", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the tree was removed although its mounts were unknown: %v", err)
	}
	// A mount that stays after unmounting keeps the tree too.
	under = func(string) ([]string, error) { return []string{"/nonexistent-isobench-mount"}, nil }
	if err := UnmountAll(dir); err == nil || !strings.Contains(err.Error(), "still mounted") {
		t.Fatalf("UnmountAll = %v; want a refusal naming the mount", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the tree was removed although a mount stayed: %v", err)
	}
	under = Under
	if err := UnmountAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir left: %v", err)
	}
}

func TestUnderFindsTheRoot(t *testing.T) {
	ms, err := Under("/")
	if err != nil || len(ms) == 0 || ms[len(ms)-1] != "/" && !contains(ms, "/") {
		t.Fatalf("Under(/) = %v, %v", ms, err)
	}
	if !Within("/a/b", "/a") || Within("/ab", "/a") || !Within("/a", "/a") {
		t.Error("Within is wrong")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
