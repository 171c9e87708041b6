// The fp32 FMA peak of one core as the GEMM micro-kernel sees it: the register-tile loop of
// gemm_x86_impl.h (512-bit, broadcast A value times NV B vectors into MR x NV accumulators) for
// several tiles, its A panels (about 200 KB) streaming from L2 and one B micro-panel in L1, timed
// by CPU time (CLOCK_THREAD_CPUTIME_ID: usable on a shared machine). The tile choice of
// native/cpu/gemm_avx512.cpp starts here: every tile that reaches this peak is a candidate, the
// whole-GEMM comparison (cpu_time_compare.cpp) decides.
//
// Build: g++ -O2 -march=native -std=c++17 -o /tmp/micro_kernel_peak benchmarks/gemm/micro_kernel_peak.cpp
// Usage: /tmp/micro_kernel_peak   (needs AVX-512F)
#include <immintrin.h>
#include <time.h>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <algorithm>
static double cpu_s(){timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
template<int MR,int NV,int U>
__attribute__((noinline)) void micro(long kc,const float*__restrict a,const float*__restrict b,float*c,long ldc){
  constexpr int NR=NV*16; __m512 acc[MR][NV];
  #pragma GCC unroll 32
  for(int r=0;r<MR;r++)
  #pragma GCC unroll 4
  for(int v=0;v<NV;v++)acc[r][v]=_mm512_setzero_ps();
  for(long p=0;p<kc;p+=U){
  #pragma GCC unroll 8
   for(int u=0;u<U;u++){
    __m512 bv[NV];
    #pragma GCC unroll 4
    for(int v=0;v<NV;v++)bv[v]=_mm512_loadu_ps(b+v*16);
    #pragma GCC unroll 32
    for(int r=0;r<MR;r++){__m512 ar=_mm512_set1_ps(a[r]);
    #pragma GCC unroll 4
     for(int v=0;v<NV;v++)acc[r][v]=_mm512_fmadd_ps(ar,bv[v],acc[r][v]);}
    a+=MR;b+=NR;}}
  #pragma GCC unroll 32
  for(int r=0;r<MR;r++)
  #pragma GCC unroll 4
  for(int v=0;v<NV;v++)_mm512_storeu_ps(c+r*ldc+v*16,acc[r][v]);
}
template<int MR,int NV,int U> void bench(const char*name,long kc,long mpanels){
  constexpr int NR=NV*16;
  float*a=(float*)aligned_alloc(64,4*MR*kc*mpanels+64); float*b=(float*)aligned_alloc(64,4*NR*kc+64); float*c=(float*)aligned_alloc(64,4*MR*NR*mpanels);
  for(long i=0;i<MR*kc*mpanels;i++)a[i]=1e-3f*(i%7); for(long i=0;i<NR*kc;i++)b[i]=1e-3f*(i%5);
  double best=1e30; for(int rep=0;rep<30;rep++){double t=cpu_s(); for(int it=0;it<20;it++) for(long q=0;q<mpanels;q++) micro<MR,NV,U>(kc,a+q*MR*kc,b,c+q*MR*NR,NR); best=std::min(best,cpu_s()-t);}
  printf("%-10s kc %4ld  %.1f GF\n",name,kc,2.0*MR*NR*kc*mpanels*20/best*1e-9);
}
int main(){
  for(long kc: {192L,256L,384L}){
  bench<12,2,1>("12x32",kc,20); bench<12,2,2>("12x32u2",kc,20); bench<8,3,1>("8x48",kc,30); bench<8,3,2>("8x48u2",kc,30);
  bench<6,4,1>("6x64",kc,40); bench<14,2,1>("14x32",kc,18); bench<16,1,1>("16x16",kc,15); bench<4,6,1>("4x96",kc,60);}
}
