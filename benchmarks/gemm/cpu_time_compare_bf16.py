"""One thread, CPU time: fl_gemm_bf16 of one or more libfuselm builds (ctypes) against PyTorch's
torch.mm on bf16 tensors (oneDNN), alternating in rotating order in one process, on the GPT-2 shapes
in the transposes of benchmarks/gemm/compare.sh; each figure the best call over R rounds timed by
time.thread_time() (only the time this thread ran: usable on a shared machine). Prints torch's
GFLOP/s, then each build's with its ratio to torch in parentheses.

Usage (torch venv: benchmarks/parity/hf_venv.sh):
  python benchmarks/gemm/cpu_time_compare_bf16.py ROUNDS all|fwd,NN,bwdD,bwdW LIBFUSELM.so [...]
"""
import ctypes
import sys
import time

import torch

torch.set_num_threads(1)
libs=[ctypes.CDLL(p, mode=ctypes.RTLD_LOCAL) for p in sys.argv[3:]]
reps=int(sys.argv[1]); only=sys.argv[2]
ctxs=[]
for L in libs:
    c=ctypes.c_void_p(); L.fl_context_create(1,0,ctypes.byref(c)); L.fl_context_set_threads(c,1); ctxs.append(c)
    L.fl_gemm_bf16.argtypes=[ctypes.c_void_p,ctypes.c_int,ctypes.c_int,ctypes.c_int64,ctypes.c_int64,ctypes.c_int64,ctypes.c_float,ctypes.c_void_p,ctypes.c_int64,ctypes.c_void_p,ctypes.c_int64,ctypes.c_float,ctypes.c_void_p,ctypes.c_void_p,ctypes.c_int64]
shapes=[(256,2304,768),(256,3072,768),(256,768,3072),(256,50257,768),(1024,1024,1024)]
cfg=[]
for M,N,K in shapes:
    cfg += [("NN",M,N,K,0,0),("fwd",M,N,K,0,1),("bwdD",M,K,N,0,0),("bwdW",N,K,M,1,0)]
seen=set()
for l,m,n,k,ta,tb in cfg:
    if (m,n,k,ta,tb) in seen or (only!="all" and l not in only.split(",")): continue
    seen.add((m,n,k,ta,tb))
    A=torch.rand((k,m) if ta else (m,k)).to(torch.bfloat16); B=torch.rand((n,k) if tb else (k,n)).to(torch.bfloat16)
    C=torch.empty((m,n)); Cb=torch.empty((m,n),dtype=torch.bfloat16)
    opa=A.t() if ta else A; opb=B.t() if tb else B
    lda=m if ta else k; ldb=k if tb else n
    best=[1e30]*(len(libs)+1)
    for r in range(reps):
        for w in range(len(libs)+1):
            who=(r+w)%(len(libs)+1); t=time.thread_time()
            if who<len(libs): libs[who].fl_gemm_bf16(ctxs[who],ta,tb,m,n,k,1.0,A.data_ptr(),lda,B.data_ptr(),ldb,0.0,None,C.data_ptr(),n)
            else: torch.mm(opa,opb,out=Cb)
            best[who]=min(best[who],time.thread_time()-t)
    f=2.0*m*n*k
    print(f"{l:5s} {m:5d} {n:5d} {k:5d} torch {f/best[-1]*1e-9:6.1f} |"+"".join(f" {f/b*1e-9:6.1f} ({best[-1]/b:.2f})" for b in best[:-1]),flush=True)
