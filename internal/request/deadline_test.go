package request

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var errDue = errors.New("request deadline exceeded")

type valueKey struct{}

// TestArmedDeadline: the deadline the State keeps reads, for every
// question the context package or a handler asks, as the context of
// context.WithDeadlineCause would, whether or not anything waited on it.
func TestArmedDeadline(t *testing.T) {
	t.Run("Err and Cause after the deadline, nothing waited", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(t.Context(), httptest.NewRecorder())
			if _, ok := Arm(s, time.Second, errDue); !ok {
				t.Fatal("Arm refused the State itself")
			}
			defer s.Disarm()
			if err := s.Err(); err != nil {
				t.Fatalf("Err before the deadline: %v", err)
			}
			if dl, ok := s.Deadline(); !ok || !dl.Equal(time.Now().Add(time.Second)) {
				t.Fatalf("Deadline %v %v, want now+1s", dl, ok)
			}
			time.Sleep(time.Second)
			if err := s.Err(); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Err at the deadline: %v", err)
			}
			if c := context.Cause(s); c != errDue { //nolint:errorlint // the cause itself
				t.Errorf("Cause %v, want %v", c, errDue)
			}
			select {
			case <-s.Done():
			default:
				t.Error("Err is set and Done is not closed")
			}
		})
	})
	t.Run("Cause first after the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(t.Context(), httptest.NewRecorder())
			Arm(s, time.Second, errDue)
			defer s.Disarm()
			time.Sleep(2 * time.Second)
			if c := context.Cause(s); c != errDue { //nolint:errorlint // the cause itself
				t.Errorf("Cause %v, want %v", c, errDue)
			}
		})
	})
	t.Run("derived contexts end at the deadline with its cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(t.Context(), httptest.NewRecorder())
			Arm(s, time.Second, errDue)
			defer s.Disarm()
			start := time.Now()
			child, cancel := context.WithTimeout(context.WithValue(s, valueKey{}, 1), time.Hour)
			defer cancel()
			var fired time.Duration
			context.AfterFunc(s, func() { fired = time.Since(start) })
			<-child.Done()
			synctest.Wait()
			if got := time.Since(start); got != time.Second {
				t.Errorf("child ended after %v, want 1s", got)
			}
			if fired != time.Second {
				t.Errorf("AfterFunc ran after %v, want 1s", fired)
			}
			if c := context.Cause(child); c != errDue { //nolint:errorlint // the cause itself
				t.Errorf("child's cause %v, want %v", c, errDue)
			}
			if v := child.Value(valueKey{}); v != 1 {
				t.Errorf("child lost the value between: %v", v)
			}
		})
	})
	t.Run("the parent's earlier end wins", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			parent, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			s := New(parent, httptest.NewRecorder())
			Arm(s, time.Minute, errDue)
			defer s.Disarm()
			if dl, _ := s.Deadline(); !dl.Equal(time.Now().Add(time.Second)) {
				t.Errorf("Deadline %v, want the parent's", dl)
			}
			<-s.Done()
			if c := context.Cause(s); !errors.Is(c, context.DeadlineExceeded) {
				t.Errorf("Cause %v, want the parent's DeadlineExceeded", c)
			}
		})
	})
	t.Run("disarmed before anything waited: the parent's view", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(t.Context(), httptest.NewRecorder())
			Arm(s, time.Second, errDue)
			s.Disarm()
			time.Sleep(2 * time.Second)
			if _, ok := s.Deadline(); ok {
				t.Error("a deadline after Disarm")
			}
			if err := s.Err(); err != nil {
				t.Errorf("Err after Disarm: %v", err)
			}
			if s.Done() != t.Context().Done() {
				t.Error("Done is not the parent's")
			}
		})
	})
	t.Run("disarmed after a wait: Done closed and Err set together", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(t.Context(), httptest.NewRecorder())
			Arm(s, time.Minute, errDue)
			done := s.Done()
			s.Disarm()
			<-done
			if err := s.Err(); !errors.Is(err, context.Canceled) {
				t.Errorf("Done closed and Err %v, want context.Canceled", err)
			}
		})
	})
}

// TestArmedValueNoClock: with the deadline armed and past, a value
// lookup leaves the timer context unmade (Value reads no clock), while
// Cause, which asks Err first, still reports the deadline's cause.
func TestArmedValueNoClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.WithValue(t.Context(), valueKey{}, 1), httptest.NewRecorder())
		Arm(s, time.Second, errDue)
		defer s.Disarm()
		time.Sleep(2 * time.Second)
		if v := s.Value(valueKey{}); v != 1 || s.dl.timed.Load() != nil {
			t.Errorf("Value = %v, timer context made: %v", v, s.dl.timed.Load() != nil)
		}
		if c := context.Cause(s); c != errDue { //nolint:errorlint // the cause itself
			t.Errorf("Cause %v, want %v", c, errDue)
		}
	})
}

// TestArmRefuses: a context that is not the State itself (a value or a
// cancel of a middleware between), and a State armed already, keep the
// caller on context.WithDeadline.
func TestArmRefuses(t *testing.T) {
	s := New(t.Context(), httptest.NewRecorder())
	if _, ok := Arm(context.WithValue(s, valueKey{}, 1), time.Second, errDue); ok {
		t.Error("Arm accepted a context derived from the State")
	}
	if _, ok := Arm(t.Context(), time.Second, errDue); ok {
		t.Error("Arm accepted a context without a State")
	}
	if _, ok := Arm(s, time.Second, errDue); !ok {
		t.Fatal("Arm refused the State")
	}
	defer s.Disarm()
	if _, ok := Arm(s, time.Second, errDue); ok {
		t.Error("Arm accepted a State armed already")
	}
}

// TestArmedDeadlineConcurrent: goroutines of the handler that wait on the
// context at once get one channel, which closes at the deadline; under
// -race, the State's fields are safe to read while the serving goroutine
// disarms.
func TestArmedDeadlineConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(t.Context(), httptest.NewRecorder())
		Arm(s, time.Second, errDue)
		const n = 8
		chans := make([]<-chan struct{}, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				chans[i] = s.Done()
				<-chans[i]
				_ = s.Err()
				_, _ = s.Deadline()
			})
		}
		synctest.Wait()
		for i := range chans {
			if chans[i] != chans[0] {
				t.Fatalf("goroutine %d waits on another channel", i)
			}
		}
		wg.Wait()
		s.Disarm()
		if c := context.Cause(s); c != errDue { //nolint:errorlint // the cause itself
			t.Errorf("Cause %v, want %v", c, errDue)
		}
	})
}
