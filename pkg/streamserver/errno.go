package streamserver

import "syscall"

// errTooManyFiles is the accept error when the process is out of file descriptors.
var errTooManyFiles = syscall.EMFILE
