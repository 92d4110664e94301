// The sleep most preStop users copy into their images, written again for
// scripts/bench: whole seconds from os.Args[1]. As in the original, the
// strconv.Atoi error is ignored, so "1.5", "60s" or "inf" sleep 0 s, and no
// operand panics (index out of range, exit 2).
package main

import (
	"os"
	"strconv"
	"time"
)

func main() {
	seconds, _ := strconv.Atoi(os.Args[1])
	time.Sleep(time.Duration(seconds) * time.Second)
}
