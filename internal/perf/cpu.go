package perf

import (
	"tandem/internal/procstat"
)

// cpuSample is the CPU time the broker (when its pid is known) and the
// load generator itself have used, read at one end of the measurement
// window.
type cpuSample struct {
	taken      bool
	broker     procstat.CPU
	brokerErr  error
	self       procstat.CPU
	selfFailed bool
}

// sampleCPU reads the CPU times now. It costs two small file reads, so it
// is taken at the ends of the window only.
func (r *runner) sampleCPU() cpuSample {
	s := cpuSample{taken: true}
	if pid := r.cfg.BrokerPID; pid > 0 {
		s.broker, s.brokerErr = procstat.ReadCPU(pid)
	}
	var err error
	s.self, err = procstat.ReadCPU(procstat.Self)
	s.selfFailed = err != nil
	return s
}

// snapshotCPU is snapshot with the CPU times.
func (r *runner) snapshotCPU() counts {
	c := r.snapshot()
	c.cpu = r.sampleCPU()
	return c
}

// cpuReport fills the CPU figures of rep from the window's two samples.
// A message is counted where it ends its trip: received by a consumer, or,
// without consumers, confirmed (sent, when sends are not confirmed).
func (r *runner) cpuReport(rep *Report, begin, end cpuSample) {
	if !begin.taken || !end.taken {
		return
	}
	msgs := rep.Sent
	switch {
	case rep.Consumers > 0:
		msgs = rep.Received
	case r.cfg.confirmed():
		msgs = rep.Confirmed
	}
	rep.CPUMessages = msgs
	perMsg := func(secs float64) float64 {
		if msgs <= 0 {
			return 0
		}
		return secs * 1e6 / float64(msgs)
	}
	if !begin.selfFailed && !end.selfFailed {
		rep.ClientCPUSeconds = end.self.Sub(begin.self).Total().Seconds()
		rep.ClientCPUPerMessage = perMsg(rep.ClientCPUSeconds)
	}
	if r.cfg.BrokerPID <= 0 {
		return
	}
	rep.BrokerPID = r.cfg.BrokerPID
	if err := begin.brokerErr; err != nil {
		rep.BrokerCPUError = err.Error()
		return
	}
	if err := end.brokerErr; err != nil {
		rep.BrokerCPUError = err.Error()
		return
	}
	d := end.broker.Sub(begin.broker)
	rep.BrokerCPUSeconds = d.Total().Seconds()
	rep.BrokerCPUUserSeconds = d.User.Seconds()
	rep.BrokerCPUPerMessage = perMsg(rep.BrokerCPUSeconds)
}
