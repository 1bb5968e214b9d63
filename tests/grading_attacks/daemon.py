"""A cell of the student's own (before 01.1) leaves processes behind: a double fork with
setsid, subprocess.Popen(start_new_session=True), nohup in a shell's background, setsid -f,
and a thread that never ends. Each sleeps 3 s, then appends a ghost row to the CSV and
writes marker files, then sleeps on. Every one carries ATTACK["mark"] in its command line
and its environment. The answers are the reference solutions.

Honest outcome: after grade() returns (and the ghost's 3 s), no process carries the mark,
no marker file exists, the CSV has exactly one row per submission; 3 of 3 points.
"""
# %% 01.1 before
import os
import subprocess
import sys
import threading
import time

mark = ATTACK["mark"]
targets = [ATTACK["marker"], os.path.join("/tmp", mark), os.path.abspath(mark)]
payload = (
    "import time\n"
    "time.sleep(3)\n"
    f"for path in {targets!r}:\n"
    "    try:\n"
    "        open(path, 'w').write('alive')\n"
    "    except OSError:\n"
    "        pass\n"
    "try:\n"
    f"    open({ATTACK['csv']!r}, 'a').write('ghost.ipynb,0,graded,3,3,correct,correct,correct,daemon\\n')\n"
    "except OSError:\n"
    "    pass\n"
    "time.sleep(120)\n"
)
environment = dict(os.environ, GRADING_DAEMON=mark)
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)

child = os.fork()
if child == 0:  # the classic daemon: fork, setsid, fork again, the middle one exits
    try:
        os.setsid()
        if os.fork() == 0:
            os.execve(sys.executable, [sys.executable, "-c", payload, mark], environment)
    finally:
        os._exit(0)
os.waitpid(child, 0)
subprocess.Popen([sys.executable, "-c", payload, mark], start_new_session=True, **quiet)
subprocess.Popen(["/bin/sh", "-c", f'nohup "{sys.executable}" -c "$0" {mark} >/dev/null 2>&1 &', payload], **quiet)
for setsid in ("/usr/bin/setsid", "/bin/setsid"):
    if os.path.exists(setsid):
        subprocess.Popen([setsid, "-f", sys.executable, "-c", payload, mark], **quiet)
        break
threading.Thread(target=time.sleep, args=(600,)).start()
