package guestassets

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// CpioWriter writes an uncompressed newc archive, the format the kernel unpacks as an
// initramfs. Uncompressed because decompressing costs more boot time than reading it.
type CpioWriter struct {
	w     io.Writer
	ino   uint32
	count int64
}

// NewCpioWriter starts an archive on w.
func NewCpioWriter(w io.Writer) *CpioWriter { return &CpioWriter{w: w, ino: 1} }

const (
	cpioModeDir  = 0o040000
	cpioModeFile = 0o100000
	cpioModeChr  = 0o020000
)

func (c *CpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) error {
	name = strings.TrimPrefix(name, "/")
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	if err := c.write([]byte(hdr + name + "\x00")); err != nil {
		return err
	}
	return c.pad()
}

func (c *CpioWriter) write(b []byte) error {
	n, err := c.w.Write(b)
	c.count += int64(n)
	if err != nil {
		return fmt.Errorf("writing cpio: %w", err)
	}
	return nil
}

func (c *CpioWriter) pad() error {
	if r := c.count % 4; r != 0 {
		return c.write(make([]byte, 4-r))
	}
	return nil
}

// Dir adds a directory.
func (c *CpioWriter) Dir(name string) error { return c.header(name, cpioModeDir|0o755, 0, 0, 0) }

// CharDev adds a character device node.
func (c *CpioWriter) CharDev(name string, major, minor uint32) error {
	return c.header(name, cpioModeChr|0o600, 0, major, minor)
}

// Bytes adds a regular file with the given content.
func (c *CpioWriter) Bytes(name string, perm uint32, data []byte) error {
	if err := c.header(name, cpioModeFile|perm, int64(len(data)), 0, 0); err != nil {
		return err
	}
	if err := c.write(data); err != nil {
		return err
	}
	return c.pad()
}

// File adds a regular file copied from the host.
func (c *CpioWriter) File(name, hostPath string, perm uint32) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return fmt.Errorf("adding %s to initramfs: %w", hostPath, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("adding %s to initramfs: %w", hostPath, err)
	}
	if err := c.header(name, cpioModeFile|perm, st.Size(), 0, 0); err != nil {
		return err
	}
	n, err := io.Copy(c.w, f)
	c.count += n
	if err != nil {
		return fmt.Errorf("adding %s to initramfs: %w", hostPath, err)
	}
	if n != st.Size() {
		return fmt.Errorf("adding %s to initramfs: size changed while copying", hostPath)
	}
	return c.pad()
}

// Close writes the trailer.
func (c *CpioWriter) Close() error {
	return c.header("TRAILER!!!", 0, 0, 0, 0)
}
