# Run by netns.sh on a test that timed out: every thread's stack, and the
# endpoint (and, over tcp, the connection) each waiting thread waits on.
set pagination off
set print pretty off
thread apply all bt 10
python
import gdb
for th in gdb.selected_inferior().threads():
    th.switch()
    f = gdb.newest_frame()
    while f is not None:
        if f.name() in ("ep_wait", "lead_wait"):
            try:
                f.select()
                ep = gdb.parse_and_eval("ep")
                name = ep['ops']['name'].string()
                print("== thread %d: ep %s provider %s state %s lead_fd %s "
                      "lead_polling %s wake_gen %s" %
                      (th.num, ep, name, ep['state'], ep['lead_fd'],
                       ep['lead_polling'], ep['wake_gen']))
                if name == "tcp":
                    print(gdb.parse_and_eval(
                        "*(struct tcp_conn *)ep->prov_data"))
            except Exception as e:
                print("== thread %d: %s" % (th.num, e))
            break
        f = f.older()
end
