package fileutil

// syncDir is a no-op on Windows, where directories cannot be opened for
// syncing and renames are flushed with the file system's metadata.
func syncDir(string) error { return nil }
