package deploy

import (
	"fmt"
	"os"
)

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

func getenv(k string) string { return os.Getenv(k) }
