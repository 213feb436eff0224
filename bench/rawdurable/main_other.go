//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "rawdurable: Linux only (it measures O_DIRECT and fdatasync)")
	os.Exit(2)
}
