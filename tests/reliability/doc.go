// Package reliability turns the product's promises into checks: nothing
// lost, nothing duplicated, and run records that tell the truth, whatever
// Marketo, Certain, the network, the store or the Lambda runtime do.
//
// A World is the whole product (the five jobs, the change detector and the
// SQS handler) over both simulators seeded with the demo data set, on one
// manual clock, with a FaultNet in front of both APIs and a CrashStore that
// can "kill the process" between a remote write and the store write that
// records it. A Scenario is a set of Faults; RunScenario drives every step
// until it finishes, as the schedule would, then compares what the
// simulators hold with a fault-free reference world. Everything is
// reproducible from a seed, so a failing soak run can be replayed.
//
// The package is test support: it imports testing and is used only by
// tests (its own, and `make soak`).
package reliability
