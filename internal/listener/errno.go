package listener

import "syscall"

var syscallEMFILE = syscall.EMFILE
