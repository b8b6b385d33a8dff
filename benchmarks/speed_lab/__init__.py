"""The speed lab: step and op profiles, thread / layout / replica scaling, the authors' code timed beside ours."""
