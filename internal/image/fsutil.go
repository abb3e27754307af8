package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/mounts"
	"golang.org/x/sys/unix"
)

// lock takes an exclusive flock on <home>/locks/<name>.lock and returns its release.
// flock locks belong to the open file, so goroutines of one process exclude each
// other as well as other processes. A nil ctx waits without limit.
func (s *Store) lock(ctx context.Context, name string) (func(), error) {
	f, path, err := s.openLock(name)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		// Poll rather than block, so that a cancelled ctx ends the wait.
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		select {
		case <-done:
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Store) openLock(name string) (*os.File, string, error) {
	path := filepath.Join(s.lockDir(), name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, path, fmt.Errorf("opening lock file: %w", err)
	}
	return f, path, nil
}

// tryLock takes the lock like lock but does not wait: busy is true when another
// holder has it.
func (s *Store) tryLock(name string) (unlock func(), busy bool, err error) {
	f, path, err := s.openLock(name)
	if err != nil {
		return nil, false, err
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return func() { f.Close() }, false, nil
	}
	f.Close()
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("locking %s: %w", path, err)
}

// removeTree removes dir after making sure nothing is mounted below it, so that a
// leftover bind mount never leads RemoveAll into a host directory.
func removeTree(dir string) error {
	if dir == "" || dir == "/" {
		return fmt.Errorf("refusing to remove %q", dir)
	}
	for attempt := 0; ; attempt++ {
		points, err := mounts.Under(dir) // deepest first: a mount below another goes first
		if err != nil {
			return err
		}
		if len(points) == 0 {
			break
		}
		if attempt == 3 {
			return fmt.Errorf("not removing %s: still mounted at %s", dir, strings.Join(points, ", "))
		}
		for _, p := range points {
			_ = unix.Unmount(p, unix.MNT_DETACH) // what stays mounted is named by the next attempt
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// tarFlags are shared by packing and unpacking so that owners (as numbers, not
// names looked up on the host), permissions, and extended attributes such as file
// capabilities survive the round trip. GNU tar restores only user.* attributes
// unless told otherwise.
var tarFlags = []string{"--numeric-owner", "--xattrs", "--xattrs-include=*"}

// packDir writes dir as a gzip-compressed tar to file. Entries are sorted so that
// the same tree gives the same layer digest.
func packDir(ctx context.Context, dir, file string) error {
	// PAX headers (needed for xattrs) carry atime and ctime, which change without
	// the content changing: leave them out so the digest depends on content only.
	args := append([]string{"--create", "--file=-", "--sort=name", "--one-file-system",
		"--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "--directory=" + dir}, tarFlags...)
	args = append(args, ".")
	cmd := exec.CommandContext(ctx, "tar", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	defer f.Close()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("packing %s: starting tar: %w", dir, err)
	}
	copyErr := gzipTo(f, out)
	waitErr := cmd.Wait()
	if waitErr != nil {
		return fmt.Errorf("packing %s: tar: %w: %s", dir, waitErr, strings.TrimSpace(stderr.String()))
	}
	if copyErr != nil {
		return fmt.Errorf("packing %s: %w", dir, copyErr)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	return nil
}

// gzipTo compresses r into w.
func gzipTo(w io.Writer, r io.Reader) error {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, r); err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	return zw.Close()
}

// runLogged runs cmd in its own process group, sending output to log; a cancelled
// ctx kills the whole group (debootstrap is a shell script with many children).
func runLogged(ctx context.Context, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// A private mount namespace: mounts the command makes (debootstrap mounts
		// proc and sys in its target) vanish with it, even when it is killed.
		Unshareflags: syscall.CLONE_NEWNS,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("running %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("running %s: %w", name, err)
	}
	return nil
}
