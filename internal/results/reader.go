package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SchemaError is a record written by a schema version this build does not know.
type SchemaError struct {
	Path    string
	Line    int
	Version int
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s:%d has schema_version %d but this isobench reads version %d: use an isobench release that matches the run",
		e.Path, e.Line, e.Version, SchemaVersion)
}

// NotResultsError is a file or directory that is not isobench output.
type NotResultsError struct {
	Path   string
	Line   int // 0 when the problem is not on one line
	Reason string
}

func (e *NotResultsError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d is not an isobench results file: %s", e.Path, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s is not an isobench run: %s", e.Path, e.Reason)
}

// Warning is damage that was skipped over, such as a last line cut short by a crash.
type Warning struct {
	Path string
	Line int
	Msg  string
}

func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.Path, w.Line, w.Msg) }

// Warnings are the damage found while reading.
type Warnings []Warning

// IsInputError tells whether err means the input is not something isobench can read
// (unknown schema, not a results file), as opposed to an I/O failure.
func IsInputError(err error) bool {
	var se *SchemaError
	var ne *NotResultsError
	return errors.As(err, &se) || errors.As(err, &ne)
}

// ReadSamples streams samples.jsonl at path into fn, one record at a time, so memory
// stays bounded whatever the file size. A last line cut short (no newline and not
// valid JSON) is skipped with a warning; any other damage is an error.
func ReadSamples(path string, fn func(Sample) error) (Warnings, error) {
	return readJSONL(path, recordDecoder(path, fn))
}

// ReadSamplesFrom is ReadSamples over a reader already open (a file opened without
// following symlinks, say); name is used in messages.
func ReadSamplesFrom(r io.Reader, name string, fn func(Sample) error) (Warnings, error) {
	return readJSONLFrom(r, name, recordDecoder(name, fn))
}

// record is a line of samples.jsonl or failures.jsonl.
type record interface {
	schemaVersion() int
	// lacks says what the record lacks that every one of its kind has, or "".
	lacks() string
}

func (s Sample) schemaVersion() int  { return s.SchemaVersion }
func (f Failure) schemaVersion() int { return f.SchemaVersion }
func (f Failure) lacks() string      { return "" }

func (s Sample) lacks() string {
	if s.Metric == "" || s.Runtime == "" {
		return "record has no metric or runtime"
	}
	return ""
}

// recordDecoder decodes a line into a T, refuses a record of another schema version or
// one that lacks what it must have, and hands it to fn.
func recordDecoder[T record](path string, fn func(T) error) func([]byte, int) (bool, error) {
	return func(line []byte, lineNo int) (bool, error) {
		var r T
		if err := json.Unmarshal(line, &r); err != nil {
			return false, err
		}
		if err := checkVersion(path, lineNo, r.schemaVersion()); err != nil {
			return true, err
		}
		if why := r.lacks(); why != "" {
			return true, &NotResultsError{Path: path, Line: lineNo, Reason: why}
		}
		return true, fn(r)
	}
}

// ReadFailures streams failures.jsonl at path into fn. A missing file means no failures.
func ReadFailures(path string, fn func(Failure) error) (Warnings, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return readJSONL(path, recordDecoder(path, fn))
}

// ReadFailuresFrom is ReadFailures over a reader already open; name is used in messages.
func ReadFailuresFrom(r io.Reader, name string, fn func(Failure) error) (Warnings, error) {
	return readJSONLFrom(r, name, recordDecoder(name, fn))
}

// ReadEnvironment reads dir's environment.json. A missing file is an error that
// wraps os.ErrNotExist, so callers may carry on without it. A run directory may come
// from anyone: the file is opened without following a symlink and read up to
// MaxEnvironmentBytes.
func ReadEnvironment(dir string) (Environment, error) {
	path := filepath.Join(dir, EnvironmentFile)
	var env Environment
	f, err := OpenRunFile(path)
	if err != nil {
		return env, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxEnvironmentBytes+1))
	if err != nil {
		return env, fmt.Errorf("reading environment: %w", err)
	}
	if len(b) > MaxEnvironmentBytes {
		return env, &NotResultsError{Path: path, Reason: fmt.Sprintf("larger than %d MiB", MaxEnvironmentBytes>>20)}
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return env, &NotResultsError{Path: path, Reason: "not valid JSON: " + err.Error()}
	}
	if err := checkVersion(path, 1, env.SchemaVersion); err != nil {
		return env, err
	}
	return env, nil
}

// Limits on what is read from a run directory, which may come from anyone: far above
// what isobench writes, far below what would exhaust memory.
const (
	MaxEnvironmentBytes = 64 << 20
	MaxRecordBytes      = 16 << 20
)

// OpenRunFile opens a file of a run directory for reading: never through a symlink (its
// target could be any file of the reader's, which an error message might then quote),
// and only a regular file (a FIFO would block the reader forever). A missing file is an
// error wrapping os.ErrNotExist.
func OpenRunFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, &NotResultsError{Path: path, Reason: "a symlink; isobench reads a run directory's files only as regular files, never through a link"}
		}
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("reading %s: %w", path, os.ErrNotExist)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &NotResultsError{Path: path, Reason: "not a regular file"}
	}
	// Reads of a regular file never block; blocking mode keeps the runtime's poller out.
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return f, nil
}

// CheckRunDir tells whether dir looks like a run directory (it holds samples.jsonl).
func CheckRunDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return &NotResultsError{Path: dir, Reason: "no such directory"}
	}
	if !st.IsDir() {
		return &NotResultsError{Path: dir, Reason: "not a directory; give the run directory that holds " + SamplesFile}
	}
	if _, err := os.Lstat(filepath.Join(dir, SamplesFile)); err != nil {
		return &NotResultsError{Path: dir, Reason: "it holds no " + SamplesFile}
	}
	return nil
}

func checkVersion(path string, line, v int) error {
	if v == 0 {
		return &NotResultsError{Path: path, Line: line, Reason: "record has no schema_version"}
	}
	if v != SchemaVersion {
		return &SchemaError{Path: path, Line: line, Version: v}
	}
	return nil
}

// readJSONL calls decode for every line. decode returns parsed=false when the line is
// not JSON of the expected shape; such a line is tolerated only as a cut-short last line.
func readJSONL(path string, decode func(line []byte, lineNo int) (parsed bool, err error)) (Warnings, error) {
	f, err := OpenRunFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &NotResultsError{Path: filepath.Dir(path), Reason: "it holds no " + filepath.Base(path)}
		}
		return nil, err
	}
	defer f.Close()
	return readJSONLFrom(f, path, decode)
}

func readJSONLFrom(src io.Reader, path string, decode func(line []byte, lineNo int) (parsed bool, err error)) (Warnings, error) {
	r := bufio.NewReaderSize(src, 1<<20)
	var warns Warnings
	lineNo := 0
	for {
		line, readErr := r.ReadSlice('\n')
		if errors.Is(readErr, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole (rare; records are short).
			long := append([]byte(nil), line...)
			for errors.Is(readErr, bufio.ErrBufferFull) {
				line, readErr = r.ReadSlice('\n')
				long = append(long, line...)
				if len(long) > MaxRecordBytes {
					return warns, &NotResultsError{Path: path, Line: lineNo + 1, Reason: fmt.Sprintf("a line longer than %d MiB is no results record", MaxRecordBytes>>20)}
				}
			}
			line = long
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return warns, fmt.Errorf("reading %s: %w", path, readErr)
		}
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if len(line) > 0 {
			lineNo++
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			parsed, err := decode(trimmed, lineNo)
			switch {
			case err != nil && parsed:
				return warns, err
			case err != nil && lineNo == 1:
				return warns, &NotResultsError{Path: path, Line: lineNo, Reason: "not JSON lines"}
			case err != nil && !complete:
				warns = append(warns, Warning{Path: path, Line: lineNo,
					Msg: "last line is cut short (a crash in mid-write?); skipped it and used the rest"})
			case err != nil:
				return warns, &NotResultsError{Path: path, Line: lineNo, Reason: "damaged record: " + err.Error()}
			}
		}
		if readErr != nil { // io.EOF
			return warns, nil
		}
	}
}
