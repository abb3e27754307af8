package image

// Store is the content-addressed image cache under a home directory.
// (Being filled in: see docs/architecture.md.)
type Store struct {
	home string
}
