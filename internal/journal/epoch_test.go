package journal

import "testing"

// TestReopenUnderNewEpoch reopens a journal under a new fencing epoch, as an
// HA takeover does (the old epoch's empty pre-allocated file is re-stamped
// for it): the records survive, and everything written from then on lands in
// a file of the new epoch.
func TestReopenUnderNewEpoch(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.Epoch = 1
	j, _ := open(t, o)
	m := newModel()
	mustWrite(t, j, m, add(1, 1, "before"))
	settle(t, j)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	o.Epoch = 2
	j, recs := open(t, o)
	sameRecords(t, recs, m.records())
	mustWrite(t, j, m, add(2, 1, "after"))
	settle(t, j)
	checkAccounting(t, j)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := MaxEpoch(dir, o.Prefix); err != nil || got != 2 {
		t.Fatalf("MaxEpoch = %d, %v; want 2", got, err)
	}
	j, recs = open(t, o)
	defer j.Close()
	sameRecords(t, recs, m.records())
}
