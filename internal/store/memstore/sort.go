package memstore

import "sort"

func sortedValues[T any](m map[uint64]entry[T]) []T {
	es := make([]entry[T], 0, len(m))
	for _, e := range m {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = e.v
	}
	return out
}

func sortBySeq[T any](s []T, seq func(T) uint64) {
	sort.Slice(s, func(i, j int) bool { return seq(s[i]) < seq(s[j]) })
}
