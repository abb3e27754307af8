package clusterrun

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// The node writes its run directory to stdout after the run, between these lines, as a
// base64 gzip tar; the end line carries the archive's sha256 and size.
const (
	beginMarker = "ISOBENCH-RUN-ARCHIVE-BEGIN"
	endMarker   = "ISOBENCH-RUN-ARCHIVE-END"
	// maxArchive bounds what a node may send back.
	maxArchive = 2 << 30
)

// WriteArchive writes dir's regular files and directories as a marked base64 gzip tar.
func WriteArchive(w io.Writer, dir string) error {
	h := sha256.New()
	var size countWriter
	bw := bufio.NewWriter(w)
	if _, err := fmt.Fprintln(bw, beginMarker); err != nil {
		return err
	}
	lines := &lineWriter{w: bw, width: 76}
	enc := base64.NewEncoder(base64.StdEncoding, lines)
	gz := gzip.NewWriter(io.MultiWriter(enc, h, &size))
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: filepath.ToSlash(rel) + "/", Mode: 0o755})
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: filepath.ToSlash(rel), Mode: 0o644, Size: info.Size()}); err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			return err
		}
		return nil // symlinks and others are not part of a run directory
	})
	if err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if err := lines.end(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(bw, "%s %s %d\n", endMarker, hex.EncodeToString(h.Sum(nil)), size.n); err != nil {
		return err
	}
	return bw.Flush()
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// lineWriter breaks base64 text into lines, so that log streams carry it.
type lineWriter struct {
	w     io.Writer
	width int
	col   int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := l.width - l.col
		if k > len(p) {
			k = len(p)
		}
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		l.col += k
		p = p[k:]
		if l.col == l.width {
			if _, err := l.w.Write([]byte{'\n'}); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

func (l *lineWriter) end() error {
	if l.col > 0 {
		_, err := l.w.Write([]byte{'\n'})
		l.col = 0
		return err
	}
	return nil
}

// ReadStream passes lines before the archive to progress, and unpacks the archive into
// dir (which must not exist), checking its digest and every path. It fails when the stream
// ends without a complete archive.
func ReadStream(r io.Reader, dir string, progress func(line string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	inArchive := false
	tmp, err := os.CreateTemp("", "isobench-node-archive-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	dec := &base64Lines{}
	h := sha256.New()
	var size int64
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !inArchive && line == beginMarker:
			inArchive = true
		case !inArchive:
			progress(line)
		case strings.HasPrefix(line, endMarker+" "):
			f := strings.Fields(line)
			if len(f) != 3 {
				return fmt.Errorf("bad archive end line %q", line)
			}
			want, _ := strconv.ParseInt(f[2], 10, 64)
			if got := hex.EncodeToString(h.Sum(nil)); got != f[1] || want != size {
				return fmt.Errorf("the run archive is damaged: sha256 %s size %d, the node said %s %d", got, size, f[1], want)
			}
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return err
			}
			return unpack(tmp, dir)
		default:
			b, err := dec.decode(line)
			if err != nil {
				return fmt.Errorf("reading the run archive: %w", err)
			}
			size += int64(len(b))
			if size > maxArchive {
				return fmt.Errorf("the run archive is larger than %d bytes", maxArchive)
			}
			h.Write(b)
			if _, err := tmp.Write(b); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the node's output: %w", err)
	}
	if inArchive {
		return errors.New("the node's output ended inside the run archive")
	}
	return errors.New("the node's output ended without a run archive")
}

// base64Lines decodes base64 that arrives in lines of any length (a multiple of 4 except
// the last).
type base64Lines struct{ rest string }

func (b *base64Lines) decode(line string) ([]byte, error) {
	s := b.rest + strings.TrimSpace(line)
	n := len(s) / 4 * 4
	b.rest = s[n:]
	return base64.StdEncoding.DecodeString(s[:n])
}

// unpack extracts a gzip tar of regular files and directories under dir, refusing any
// path that is absolute, climbs out, or is not a plain file or directory.
func unpack(r io.Reader, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("making %s: %w", dir, err)
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("run archive: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("run archive: %w", err)
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || name == "." {
			return fmt.Errorf("run archive: unsafe path %q", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			// O_EXCL: nothing there yet, so nothing to follow.
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fmt.Errorf("run archive: %w", err)
			}
			_, err = io.Copy(f, io.LimitReader(tr, hdr.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("run archive: writing %s: %w", name, err)
			}
		default:
			return fmt.Errorf("run archive: %q is not a plain file or directory", hdr.Name)
		}
	}
}
