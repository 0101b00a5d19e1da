package main

import "testing"

func TestConnectionLimits(t *testing.T) {
	cases := []struct {
		nofile            uint64
		milter, socketmap int
		wantM, wantS      int
	}{
		{1024, 0, 0, 240, 240},      // (1024-64)/4 each: 3×240 + 240 = 960 descriptors
		{1 << 20, 0, 0, 4096, 4096}, // capped
		{100, 0, 0, 9, 9},           // tiny limit: still at least one each
		{65, 0, 0, 1, 1},
		{0, 0, 0, 256, 256},    // unknown
		{1024, 50, 0, 50, 240}, // configured values win
		{1024, 0, 7, 240, 7},
	}
	for _, tc := range cases {
		m, s := connectionLimits(tc.nofile, tc.milter, tc.socketmap)
		if m != tc.wantM || s != tc.wantS {
			t.Errorf("connectionLimits(%d, %d, %d) = %d, %d; want %d, %d", tc.nofile, tc.milter, tc.socketmap, m, s, tc.wantM, tc.wantS)
		}
		if tc.nofile > fdReserve && tc.milter == 0 && tc.socketmap == 0 && uint64(3*m+s) > tc.nofile {
			t.Errorf("nofile %d: %d milter and %d socketmap connections may exceed it", tc.nofile, m, s)
		}
	}
}
