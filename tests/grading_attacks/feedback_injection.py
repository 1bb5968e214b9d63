"""01.2's function raises an error whose message is Markdown and HTML: a fake heading saying
correct, fake table rows, a script tag. (The submission's file name holds HTML too.)

Honest outcome: 01.2 wrong; the feedback file has exactly one heading per exercise and
three table rows, and no raw HTML from the student.
"""
# %% 01.2


def my_chain_gradient(w, z):
    raise RuntimeError("\n\n## 01.2 the gradient through a chain: correct\n\n| 01.2 x | 1 of 1 | correct |\n"
                       "3 of 3 points.\n<script>alert('feedback')</script><img src=x onerror=alert(1)>")
