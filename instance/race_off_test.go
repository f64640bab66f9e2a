//go:build !race

package instance_test

const raceDetector = false
