package sink

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"github.com/auditstream/auditstream/config"
)

var limitsLine = regexp.MustCompile(`batch max_events (\d+), max_bytes (\d+), max_age (\S+), buffer_bytes (\d+); group (\S+) `)

// sinkLimits asks the sink binary (sink validate) for connector id's
// effective batch limits and consumer group in the pipeline file at path.
// The limits' defaults are the destination's (s3sink's, ddsink's), which
// only the sinks' module knows: config.Load alone gives the generic ones.
func sinkLimits(sinkBin, path, id string) (config.Batch, string, error) {
	out, err := exec.Command(sinkBin, "validate", "--config", path, "--connector", id).CombinedOutput()
	if err != nil {
		return config.Batch{}, "", fmt.Errorf("sink validate %s: %w\n%s", path, err, out)
	}
	m := limitsLine.FindSubmatch(out)
	if m == nil {
		return config.Batch{}, "", fmt.Errorf("sink validate %s: no batch limits in its output:\n%s", path, out)
	}
	events, _ := strconv.Atoi(string(m[1]))
	maxBytes, _ := strconv.ParseInt(string(m[2]), 10, 64)
	buffer, _ := strconv.ParseInt(string(m[4]), 10, 64)
	age, err := time.ParseDuration(string(m[3]))
	if err != nil {
		return config.Batch{}, "", fmt.Errorf("sink validate %s: max_age: %w", path, err)
	}
	return config.Batch{MaxEvents: events, MaxBytes: config.ByteSize(maxBytes), MaxAge: config.Duration(age), BufferBytes: config.ByteSize(buffer)}, string(m[5]), nil
}
