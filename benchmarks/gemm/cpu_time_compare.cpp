// One thread, CPU time: several builds of libfuselm (each loaded with dlopen, so two builds of the
// same code can be compared side by side) against OpenBLAS (cblas_sgemm, 1 thread), alternating
// in rotating order on the GPT-2 shapes in the four transposes of benchmarks/gemm/compare.sh; each
// figure is the best call over R rounds timed by CLOCK_THREAD_CPUTIME_ID, which on a shared
// machine counts only the time this thread ran (not the time other processes held the core; their
// cache pollution still shows). Prints GFLOP/s of OpenBLAS, then of each build with its ratio to
// OpenBLAS in parentheses. A tuning aid for the blocking and tile choices (gemm_avx512.cpp).
//
// Build: c++ -O2 -std=c++17 -I native/include -o /tmp/cpu_time_compare \
//            benchmarks/gemm/cpu_time_compare.cpp -lopenblas -ldl
// Usage: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /tmp/cpu_time_compare ROUNDS all|fwd,NN,.. \
//            LIBFUSELM.so [LIBFUSELM2.so ...]

#include <cblas.h>
#include <dlfcn.h>
#include <time.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <string>
#include <algorithm>
#include <cstdint>
#include "fuselm.h"
extern "C" void openblas_set_num_threads(int);
static double cpu_s(){timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
typedef int (*sg_t)(fl_context*,int,int,int64_t,int64_t,int64_t,float,const float*,int64_t,const float*,int64_t,float,float*,int64_t);
typedef int (*cc_t)(int,int,fl_context**); typedef int (*st_t)(fl_context*,int);
int main(int argc,char**argv){
  int reps=atoi(argv[1]); const char*only=argv[2]; int nl=argc-3; openblas_set_num_threads(1);
  std::vector<sg_t> sg; std::vector<fl_context*> cx;
  for(int i=0;i<nl;i++){void*h=dlopen(argv[3+i],RTLD_NOW|RTLD_LOCAL); if(!h){puts(dlerror());return 1;}
    fl_context*c; ((cc_t)dlsym(h,"fl_context_create"))(FL_BACKEND_CPU,0,&c); ((st_t)dlsym(h,"fl_context_set_threads"))(c,1); sg.push_back((sg_t)dlsym(h,"fl_sgemm")); cx.push_back(c);}
  long shapes[][3]={{256,2304,768},{256,3072,768},{256,768,3072},{256,50257,768},{1024,1024,1024}};
  struct Cfg{const char*l;long m,n,k;int ta,tb;}; std::vector<Cfg> cf;
  for(auto&s:shapes){ long M=s[0],N=s[1],K=s[2];
    cf.push_back({"NN",M,N,K,0,0}); if(M!=N){cf.push_back({"fwd",M,N,K,0,1}); cf.push_back({"bwdD",M,K,N,0,0}); cf.push_back({"bwdW",N,K,M,1,0});} else {cf.push_back({"fwd",M,N,K,0,1});cf.push_back({"bwdW",N,K,M,1,0});}}
  std::vector<float> A,B,C;
  for(auto&c:cf){ if(strcmp(only,"all")&&!strstr(only,c.l))continue;
    A.resize(c.m*c.k);B.resize(c.k*c.n);C.assign(c.m*c.n,0.f);
    for(size_t i=0;i<A.size();i++)A[i]=(i*37%101)*0.01f; for(size_t i=0;i<B.size();i++)B[i]=(i*53%97)*0.01f;
    long lda=c.ta?c.m:c.k, ldb=c.tb?c.k:c.n; double fl=2.0*c.m*c.n*c.k; std::vector<double> best(nl+1,1e30);
    for(int r=0;r<reps;r++){ for(int w=0;w<=nl;w++){ int who=(r+w)%(nl+1); double t=cpu_s();
      if(who<nl) sg[who](cx[who],c.ta,c.tb,c.m,c.n,c.k,1.f,A.data(),lda,B.data(),ldb,0.f,C.data(),c.n);
      else cblas_sgemm(CblasRowMajor,c.ta?CblasTrans:CblasNoTrans,c.tb?CblasTrans:CblasNoTrans,c.m,c.n,c.k,1.f,A.data(),lda,B.data(),ldb,0.f,C.data(),c.n);
      best[who]=std::min(best[who],cpu_s()-t);} }
    printf("%-5s %5ld %5ld %5ld ob %6.1f |",c.l,c.m,c.n,c.k,fl/best[nl]*1e-9);
    for(int i=0;i<nl;i++)printf(" %6.1f (%.2f)",fl/best[i]*1e-9,best[nl]/best[i]); puts(""); fflush(stdout);}
}
