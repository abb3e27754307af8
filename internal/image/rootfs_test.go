package image_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/image"
)

// TestRootFSKeepsSpecialFiles checks what drivers rely on: ownership, modes,
// hard links, symbolic links (absolute ones resolved inside the image), FIFOs and
// user extended attributes survive import and unpacking, while setuid/setgid bits,
// file capabilities and device nodes do not.
func TestRootFSKeepsSpecialFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: device nodes and file ownership")
	}
	dir := busyboxDir(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	owned := filepath.Join(dir, "etc", "owned")
	must(os.WriteFile(owned, []byte("x"), 0o640))
	must(os.Chown(owned, 1234, 5678))
	setuid := filepath.Join(dir, "bin", "setuid-tool")
	must(os.WriteFile(setuid, []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(setuid, 0o755|os.ModeSetuid))
	must(os.Link(filepath.Join(dir, "bin", "busybox"), filepath.Join(dir, "bin", "busybox-hardlink")))
	must(os.MkdirAll(filepath.Join(dir, "usr", "bin"), 0o755))
	must(os.Symlink("/bin/busybox", filepath.Join(dir, "usr", "bin", "abs-link")))
	// The host has sysbench in /usr/bin, the image does not: the link must not be
	// followed out of the image.
	must(os.Symlink("/usr/bin/sysbench", filepath.Join(dir, "usr", "bin", "host-only")))
	must(unix.Mknod(filepath.Join(dir, "dev", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(dir, "dev", "sda"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 0))))
	must(unix.Mkfifo(filepath.Join(dir, "tmp", "fifo"), 0o620))
	must(os.Chmod(filepath.Join(dir, "tmp", "fifo"), 0o620|os.ModeNamedPipe))
	setgid := filepath.Join(dir, "bin", "setgid-tool")
	must(os.WriteFile(setgid, []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(setgid, 0o755|os.ModeSetgid))
	must(os.Chown(setgid, 0, 42))
	must(os.Mkdir(filepath.Join(dir, "var", "mail"), 0o755))
	must(os.Chmod(filepath.Join(dir, "var", "mail"), 0o775|os.ModeSetgid))
	xattrOK := unix.Setxattr(owned, "user.isobench", []byte("kept"), 0) == nil
	capOK := exec.Command("setcap", "cap_net_raw+ep", setuid).Run() == nil

	s := openStore(t)
	img, err := s.Import(context.Background(), dir, "special")
	if err != nil {
		t.Fatal(err)
	}
	root, err := img.RootFS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := func(p string) *syscall.Stat_t {
		t.Helper()
		var s syscall.Stat_t
		must(syscall.Lstat(filepath.Join(root, p), &s))
		return &s
	}
	if o := st("etc/owned"); o.Uid != 1234 || o.Gid != 5678 || o.Mode&0o7777 != 0o640 {
		t.Errorf("etc/owned: uid %d gid %d mode %o; want 1234 5678 640", o.Uid, o.Gid, o.Mode&0o7777)
	}
	if m := st("bin/setuid-tool").Mode; m&0o7777 != 0o755 {
		t.Errorf("bin/setuid-tool: mode %o, want 755 (setuid dropped)", m&0o7777)
	}
	if o := st("bin/setgid-tool"); o.Mode&0o7777 != 0o755 || o.Gid != 42 {
		t.Errorf("bin/setgid-tool: mode %o gid %d, want 755 (setgid dropped) and gid 42", o.Mode&0o7777, o.Gid)
	}
	if m := st("var/mail").Mode; m&0o7777 != 0o2775 {
		t.Errorf("var/mail: mode %o, want 2775 (a directory's setgid only passes its group on)", m&0o7777)
	}
	if m := st("tmp/fifo").Mode; m&unix.S_IFMT != unix.S_IFIFO || m&0o777 != 0o620 {
		t.Errorf("tmp/fifo: mode %o, want a FIFO with 620", m)
	}
	if a, b := st("bin/busybox"), st("bin/busybox-hardlink"); a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link not kept: inodes %d %d, links %d", a.Ino, b.Ino, a.Nlink)
	}
	for _, dev := range []string{"dev/null", "dev/sda"} {
		if _, err := os.Lstat(filepath.Join(root, dev)); !os.IsNotExist(err) {
			t.Errorf("%s: device node from the image kept (%v); runtimes provide /dev", dev, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "dev")); err != nil || !fi.IsDir() {
		t.Errorf("dev directory itself lost: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(root, "usr/bin/abs-link")); err != nil || target != "/bin/busybox" {
		t.Errorf("usr/bin/abs-link -> %q, %v", target, err)
	}
	for tool, want := range map[string]bool{"abs-link": true, "host-only": false, "busybox-hardlink": true} {
		if got, err := img.HasTool(context.Background(), tool); err != nil || got != want {
			t.Errorf("HasTool(%s) = %v, %v; want %v", tool, got, err, want)
		}
	}
	if _, err := img.HasTool(context.Background(), "../etc/passwd"); err == nil {
		t.Error("HasTool accepted a path")
	}
	if xattrOK {
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(root, "etc/owned"), "user.isobench", buf)
		if err != nil || string(buf[:n]) != "kept" {
			t.Errorf("user xattr lost: %q, %v", buf[:max(n, 0)], err)
		}
	} else {
		t.Log("file system of the temp dir has no user xattrs: not checked")
	}
	if capOK {
		out, err := exec.Command("getcap", filepath.Join(root, "bin/setuid-tool")).CombinedOutput()
		if err != nil || strings.Contains(string(out), "cap_net_raw") {
			t.Errorf("file capability kept: %q, %v", out, err)
		}
	} else {
		t.Log("setcap unavailable: file capabilities not checked")
	}
}

// TestRootFSConcurrent unpacks one image from many goroutines and from two store
// handles at once (each flock is its own open file, as in separate processes):
// all get the same directory, it is unpacked once, and no temp dirs stay behind.
func TestRootFSConcurrent(t *testing.T) {
	s := openStore(t)
	img, err := s.Import(context.Background(), busyboxDir(t), "bb")
	if err != nil {
		t.Fatal(err)
	}
	other, err := image.Open(s.Home())
	if err != nil {
		t.Fatal(err)
	}
	img2, err := other.Get(img.Digest[:7+12])
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			which := img
			if i%2 == 1 {
				which = img2
			}
			dirs[i], errs[i] = which.RootFS(context.Background())
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("RootFS #%d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Errorf("RootFS #%d = %s, #0 = %s", i, dirs[i], dirs[0])
		}
	}
	entries, err := os.ReadDir(filepath.Dir(dirs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("rootfs dir holds %v, want only the one tree", names)
	}
	// A second call reuses the tree rather than unpacking again.
	marker := filepath.Join(dirs[0], "tmp", "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := img.RootFS(context.Background())
	if err != nil || again != dirs[0] {
		t.Fatalf("RootFS again = %s, %v", again, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("second RootFS replaced the tree: %v", err)
	}
}

// TestRootFSCancelled checks that a cancelled unpack leaves no partial tree.
func TestRootFSCancelled(t *testing.T) {
	s := openStore(t)
	img, err := s.Import(context.Background(), busyboxDir(t), "bb")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := img.RootFS(ctx); err == nil {
		t.Fatal("RootFS with a cancelled context succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Home(), "rootfs")); len(entries) != 0 {
		t.Errorf("cancelled unpack left %d entries in rootfs/", len(entries))
	}
}
