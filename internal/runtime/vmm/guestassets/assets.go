// Package guestassets builds what a microVM boots: the kernel (and a vmlinux for VMMs that
// need one), its modules, the initramfs holding the agent, and the root disk from an image.
package guestassets

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/isobench/isobench/internal/filehash"
	"github.com/isobench/isobench/internal/runtime/vmm/guestproto"
)

// DefaultKernelGlob finds Debian's linux-image-cloud-amd64 kernels.
const DefaultKernelGlob = "/boot/vmlinuz-*-cloud-amd64"

// FindKernel returns the newest kernel matching glob (by version order of the file names).
func FindKernel(glob string) (string, error) {
	matches, err := filepath.Glob(glob)
	if err != nil {
		return "", fmt.Errorf("finding kernel %s: %w", glob, err)
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("no kernel matches %s (install linux-image-cloud-amd64)", glob)
	}
	sort.Slice(matches, func(i, j int) bool { return versionLess(matches[i], matches[j]) })
	return matches[len(matches)-1], nil
}

// versionLess compares strings with runs of digits compared as numbers, so 6.10 > 6.9.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da != "" && db != "" {
			if len(da) != len(db) {
				return len(da) < len(db)
			}
			if da != db {
				return da < db
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return strings.TrimLeft(s[:i], "0")
}

// KernelRelease derives the module directory name from a /boot/vmlinuz-<release> path.
func KernelRelease(kernel string) (string, error) {
	rel, ok := strings.CutPrefix(filepath.Base(kernel), "vmlinuz-")
	if !ok || rel == "" {
		return "", fmt.Errorf("kernel %s is not named vmlinuz-<release>, so its modules cannot be found", kernel)
	}
	return rel, nil
}

// ModuleFiles resolves module names (virtio_blk) and their dependencies through
// modules.dep into files in load order, dependencies first.
func ModuleFiles(modDir string, names []string) ([]string, error) {
	f, err := os.Open(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("reading module dependencies: %w", err)
	}
	defer f.Close()
	deps := map[string][]string{} // module path -> dependency paths
	byName := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		byName[moduleName(mod)] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading module dependencies: %w", err)
	}
	var order []string
	seen := map[string]bool{}
	var visit func(mod string)
	visit = func(mod string) {
		if seen[mod] {
			return
		}
		seen[mod] = true
		// modules.dep lists the nearest dependency first; load the farthest first.
		d := deps[mod]
		for i := len(d) - 1; i >= 0; i-- {
			visit(d[i])
		}
		order = append(order, filepath.Join(modDir, mod))
	}
	for _, n := range names {
		mod, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("module %s not found in %s (built into the kernel, or missing?)", n, modDir)
		}
		visit(mod)
	}
	return order, nil
}

func moduleName(path string) string {
	base := filepath.Base(path)
	base = base[:strings.Index(base, ".ko")]
	return strings.ReplaceAll(base, "-", "_")
}

// CheckStatic fails unless path is a statically linked ELF executable: the agent runs as
// PID 1 in an initramfs that holds no shared libraries.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("agent %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("agent %s is dynamically linked; build isobench with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// Assets are the files one VM boots from.
type Assets struct {
	Kernel    string
	Initramfs string // agent as /init plus modules
	Disk      string // the image's root filesystem, ext4, shared read-only by all VMs
	AgentSHA  string
}

// AssetRequest says what to build.
type AssetRequest struct {
	// Dir is the cache directory, e.g. <home>/assets.
	Dir    string
	Kernel string
	// Modules are module names the guest loads at boot, resolved with their dependencies.
	Modules []string
	// Agent is the static isobench binary.
	Agent string
	// RootFS is the unpacked image; Digest names it in the cache.
	RootFS string
	Digest string
	// GuestMemory is the RAM the VM gets; PrepareAssets refuses one too small to unpack
	// the initramfs and still run the workload.
	GuestMemory int64
}

// kernelAndWorkloadReserve is what a guest needs beside the initramfs: the kernel's own
// memory (about 45 MiB for Debian's cloud kernel) and room for the agent and workload.
const kernelAndWorkloadReserve = 96 << 20

// MinGuestMemory is the least RAM a guest booting an initramfs of this size needs: the
// kernel holds the compressed archive and its unpacked copy at once, and the unpacked
// agent stays in RAM (rootfs has no backing store). Below it the agent dies of SIGBUS
// on its first page faults and the guest panics before any workload runs.
func MinGuestMemory(initramfsBytes int64) int64 {
	return 2*initramfsBytes + kernelAndWorkloadReserve
}

// CheckGuestMemory refuses guest RAM too small for the initramfs at path.
func CheckGuestMemory(initramfs string, memBytes int64) error {
	fi, err := os.Stat(initramfs)
	if err != nil {
		return fmt.Errorf("checking the initramfs size: %w", err)
	}
	need := MinGuestMemory(fi.Size())
	if memBytes < need {
		return fmt.Errorf("guest memory %dM is too small for the %d MiB initramfs (mostly the isobench agent): set the profile's memory option to at least %dM",
			memBytes>>20, fi.Size()>>20, (need+(1<<20)-1)>>20)
	}
	return nil
}

// PrepareAssets builds (or finds in the cache) the initramfs and the root disk.
func PrepareAssets(ctx context.Context, req AssetRequest) (*Assets, error) {
	if err := CheckStatic(req.Agent); err != nil {
		return nil, err
	}
	rel, err := KernelRelease(req.Kernel)
	if err != nil {
		return nil, err
	}
	mods, err := ModuleFiles(filepath.Join("/lib/modules", rel), req.Modules)
	if err != nil {
		return nil, err
	}
	agentSHA, err := filehash.SHA256(req.Agent)
	if err != nil {
		return nil, err
	}
	// The initramfs depends on the agent and the modules, not on the image.
	key := sha256.Sum256([]byte(agentSHA + "\n" + strings.Join(mods, "\n")))
	initrd := filepath.Join(req.Dir, "initramfs-"+rel+"-"+hex.EncodeToString(key[:6])+".cpio")
	if err := buildOnce(initrd, func(tmp string) error { return writeInitramfs(tmp, req.Agent, mods) }); err != nil {
		return nil, err
	}
	if req.GuestMemory > 0 {
		if err := CheckGuestMemory(initrd, req.GuestMemory); err != nil {
			return nil, err
		}
	}
	digest := strings.ReplaceAll(req.Digest, ":", "-")
	if digest == "" || strings.ContainsAny(digest, "/.") {
		return nil, fmt.Errorf("image digest %q cannot name a cache directory", req.Digest)
	}
	disk := filepath.Join(req.Dir, digest, "rootfs.ext4")
	if err := buildOnce(disk, func(tmp string) error { return BuildDisk(ctx, req.RootFS, tmp) }); err != nil {
		return nil, err
	}
	return &Assets{Kernel: req.Kernel, Initramfs: initrd, Disk: disk, AgentSHA: agentSHA}, nil
}

// buildOnce builds path through a temporary name and renames it into place, so a crash
// never leaves a half-built asset that later runs would trust.
func buildOnce(path string, build func(tmp string) error) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating asset directory: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	defer os.Remove(tmp)
	if err := build(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("installing %s: %w", path, err)
	}
	return nil
}

func writeInitramfs(path, agent string, mods []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating initramfs: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	c := NewCpioWriter(w)
	// /dev/console must exist before init runs, or PID 1 starts without stdio.
	for _, d := range []string{"dev", "proc", "sys", "tmp", "isobench", guestproto.ModulesDir, guestproto.BindsDir, guestproto.NewRootPath} {
		if err := c.Dir(d); err != nil {
			return err
		}
	}
	if err := c.CharDev("dev/console", 5, 1); err != nil {
		return err
	}
	if err := c.File(guestproto.AgentPath, agent, 0o755); err != nil {
		return err
	}
	for i, m := range mods {
		name := fmt.Sprintf("%s/%02d-%s", guestproto.ModulesDir, i, filepath.Base(m))
		if err := c.File(name, m, 0o644); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	return f.Close()
}

// BuildDisk makes an ext4 image of rootfs with mkfs.ext4 -d (no loop mount), sized to the
// content plus slack for the workload's own files.
func BuildDisk(ctx context.Context, rootfs, out string) error {
	var used int64
	err := filepath.WalkDir(rootfs, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil {
			used += (info.Size() + 4095) / 4096 * 4096
		}
		used += 256 // inode
		return nil
	})
	if err != nil {
		return fmt.Errorf("measuring rootfs %s: %w", rootfs, err)
	}
	size := used + used/4 + 256<<20
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		return fmt.Errorf("creating disk: %w", err)
	}
	if err := os.Truncate(out, size); err != nil {
		return fmt.Errorf("sizing disk: %w", err)
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-L", "isobench-root", "-d", rootfs, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || len(msg) > 0 {
			return fmt.Errorf("mkfs.ext4 -d %s: %w: %s", rootfs, err, strings.TrimSpace(string(msg)))
		}
		return fmt.Errorf("mkfs.ext4 (install e2fsprogs): %w", err)
	}
	return nil
}

// AppendInitramfs writes base followed by a second archive holding extra files (the
// kernel unpacks concatenated archives in order). files maps initramfs path to host path.
func AppendInitramfs(out, base string, files map[string]string, extra map[string][]byte) error {
	dst, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("creating per-VM initramfs: %w", err)
	}
	defer dst.Close()
	src, err := os.Open(base)
	if err != nil {
		return fmt.Errorf("reading initramfs: %w", err)
	}
	defer src.Close()
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("copying initramfs: %w", err)
	}
	c := NewCpioWriter(dst)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := addTree(c, n, files[n]); err != nil {
			return err
		}
	}
	for n, data := range extra {
		if err := c.Bytes(n, 0o644, data); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		return err
	}
	return dst.Close()
}

// addTree adds a host file or directory (regular files and directories only).
func addTree(c *CpioWriter, name, host string) error {
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("adding %s to initramfs: %w", host, err)
		}
		rel, _ := filepath.Rel(host, p)
		target := filepath.Join(name, rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("adding %s to initramfs: %w", p, err)
		}
		switch {
		case d.IsDir():
			return c.Dir(target)
		case info.Mode().IsRegular():
			return c.File(target, p, uint32(info.Mode().Perm()))
		default:
			return fmt.Errorf("bind source %s: only regular files and directories can be copied into a VM", p)
		}
	})
}
